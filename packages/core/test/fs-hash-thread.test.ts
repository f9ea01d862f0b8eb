import {createHash} from 'node:crypto'
import {appendFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {growingFileHash} from '../src/fs/hash-thread.js'
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

describe('growingFileHash', () => {
  it('hashes a file its writer still appends to, to the end once the writer is gone', async () => {
    const dir = tempDir()
    const path = join(dir, 'growing')
    const pieces = [Buffer.alloc(3 * 1024 * 1024 + 5, 1), Buffer.from('middle'), Buffer.alloc(2 * 1024 * 1024, 2)]
    writeFileSync(path, pieces[0] as Buffer)
    const hash = growingFileHash(path)
    for (const piece of pieces.slice(1)) {
      await new Promise((resolve) => setTimeout(resolve, 20)) // (the thread catches up and waits)
      appendFileSync(path, piece)
    }
    const all = Buffer.concat(pieces)
    expect(await hash.finish()).toEqual({bytes: all.length, sha256: sha256(all)})
  })

  it('names the file when it cannot be read', async () => {
    const path = join(tempDir(), 'missing')
    await expect(growingFileHash(path).finish()).rejects.toThrow(`hashing ${path}: ENOENT`)
  })
})
