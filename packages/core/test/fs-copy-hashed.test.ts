// copyHashed (one read of the source gives the copy and its sha256) and copyLiveHashed (the kernel's copy, then the
// copy hashed): the same copy, size, sha256, mode and errno codes, and no copy left on a failure.
import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {copyHashed, copyLiveHashed} from '../src/fs/copy-file.js'

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

for (const [name, copy] of [
  ['copyHashed', copyHashed],
  ['copyLiveHashed', copyLiveHashed],
] as const)
  describe(name, () => {
    it('copies bytes and mode, and gives the size and sha256 of what it read', async () => {
      const dir = tempDir()
      // several reads' worth, one piece, nothing
      for (const [file, body] of [
        ['big', randomBytes(2 * 1024 * 1024 + 12345)],
        ['small', Buffer.from('a note\n')],
        ['empty', Buffer.alloc(0)],
      ] as const) {
        const src = join(dir, file)
        writeFileSync(src, body)
        chmodSync(src, 0o640)
        const dest = join(dir, `${file}.copy`)
        writeFileSync(dest, 'something longer than a note, replaced by the copy\n')
        expect(await copy(src, dest)).toEqual({bytes: body.length, sha256: sha(body)})
        expect(sha(readFileSync(dest))).toBe(sha(body))
        expect(statSync(dest).mode & 0o777).toBe(0o640)
      }
    })

    it('keeps the errno codes callers test, and leaves no copy behind', async () => {
      const dir = tempDir()
      await expect(copy(join(dir, 'gone'), join(dir, 'a'))).rejects.toMatchObject({code: 'ENOENT'})
      mkdirSync(join(dir, 'folder'))
      await expect(copy(join(dir, 'folder'), join(dir, 'b'))).rejects.toMatchObject({code: 'EISDIR'})
      expect([existsSync(join(dir, 'a')), existsSync(join(dir, 'b'))]).toEqual([false, false])
    })
  })
