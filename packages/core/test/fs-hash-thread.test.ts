import {createHash} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fileHasher} from '../src/fs/index.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('fileHasher', () => {
  it("hashes files in a thread: the digests and sizes are the files', empty and multi-MiB ones included", async () => {
    const dir = tempDir()
    const files = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(3 * 1024 * 1024 + 17, 7)].map((bytes, i) => {
      const path = join(dir, `f${i}`)
      writeFileSync(path, bytes)
      return {path, bytes}
    })
    const hasher = fileHasher()
    try {
      const digests = await Promise.all(files.map((f) => hasher.sha256(f.path)))
      expect(digests).toEqual(files.map((f) => ({bytes: f.bytes.length, sha256: sha256(f.bytes)})))
    } finally {
      await hasher.close()
    }
  })

  it('rejects a missing file with its code, keeps working after it, and refuses work once closed', async () => {
    const dir = tempDir()
    const hasher = fileHasher()
    await expect(hasher.sha256(join(dir, 'missing'))).rejects.toMatchObject({code: 'ENOENT'})
    writeFileSync(join(dir, 'present'), 'x')
    expect((await hasher.sha256(join(dir, 'present'))).sha256).toBe(sha256(Buffer.from('x')))
    await hasher.close()
    await expect(hasher.sha256(join(dir, 'present'))).rejects.toThrow(/closed/)
  })
})
