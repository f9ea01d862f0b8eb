import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {checkArchive, createArchive, extractArchive, readArchiveMember} from '../src/archive/index.js'
import {cleanupTemp, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** A tree with files bigger than the read-ahead blocks (1 MiB) and the pipe reads (64 KiB), at odd sizes. */
function bigTree(): string {
  const root = join(temp(), 'src')
  makeTree(root)
  mkdirSync(join(root, 'big'))
  for (const [name, size] of [
    ['a.bin', 3 * 1024 * 1024 + 17],
    ['b.bin', 65536 - 1],
    ['c.bin', 1024 * 1024],
  ] as const) {
    const data = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4096) data.writeUInt32LE((i * 2654435761) >>> 0, i)
    writeFileSync(join(root, 'big', name), data)
  }
  return root
}

describe('extraction streams the decompressed archive in blocks (read ahead of the writes)', () => {
  for (const ext of ['tar.gz', 'tar.zst', 'tar']) {
    it(`.${ext}: every byte, mode and link identical, with and without the archive's sha256 checked`, async () => {
      const src = bigTree()
      const file = join(temp(), `a.${ext}`)
      await createArchive({cwd: src, file})
      const plain = join(temp(), 'x')
      await extractArchive({file, target: plain})
      expect(snapshot(plain)).toEqual(snapshot(src))
      const hashed = join(temp(), 'y')
      await extractArchive({file, target: hashed, sha256: sha256(file)})
      expect(snapshot(hashed)).toEqual(snapshot(src))
    })
  }

  for (const ext of ['tar.gz', 'tar.zst']) {
    it(`.${ext} truncated or damaged: refused as corrupt in one line, no target left`, async () => {
      const src = bigTree()
      const file = join(temp(), `a.${ext}`)
      await createArchive({cwd: src, file})
      const data = readFileSync(file)
      const cut = join(temp(), `cut.${ext}`)
      writeFileSync(cut, data.subarray(0, Math.floor(data.length * 0.6)))
      const flipped = join(temp(), `flipped.${ext}`)
      const copy = Buffer.from(data)
      const at = Math.floor(data.length * 0.5)
      copy[at] = copy[at]! ^ 0x5a
      writeFileSync(flipped, copy)
      for (const bad of [cut, flipped]) {
        for (const sha of [undefined, sha256(bad)]) {
          const target = join(temp(), 'out')
          const failure = await extractArchive({file: bad, target, ...(sha ? {sha256: sha} : {})}).then(
            () => undefined,
            (error: Error & {code?: string}) => error,
          )
          expect(failure?.code, `${bad} sha=${sha !== undefined}: ${failure?.message}`).toBe('ECORRUPT')
          expect(failure?.message).toMatch(/corrupt/)
          expect(failure?.message.split('\n')).toHaveLength(1)
          expect(existsSync(target)).toBe(false)
        }
      }
    })
  }

  it('a zstd killed while its input is still being fed is named as killed, not hidden behind the stream', async () => {
    const src = join(temp(), 'random')
    mkdirSync(src)
    for (let i = 0; i < 8; i++) writeFileSync(join(src, `r${i}.bin`), randomBytes(100 * 1024))
    const file = join(temp(), 'a.tar.zst')
    await createArchive({cwd: src, file})
    // a zstd killed after some output, while the archive's bytes (hashed on the way) still go into its stdin
    const bin = join(temp(), 'bin')
    mkdirSync(bin)
    const real = execFileSync('sh', ['-c', 'command -v zstd'], {encoding: 'utf8'}).trim()
    writeFileSync(join(bin, 'zstd'), `#!/bin/sh\n${real} "$@" | head -c 200000\nkill -9 $$\n`)
    chmodSync(join(bin, 'zstd'), 0o755)
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath}`
    try {
      // how far zstd got before it died varies: several rounds
      const reads = [
        () => checkArchive(file),
        () => extractArchive({file, target: join(temp(), 'out'), sha256: sha256(file)}),
      ]
      for (const read of [...reads, ...reads, ...reads, ...reads]) {
        const failure = await read().then(
          () => undefined,
          (error: Error) => error,
        )
        expect(failure?.message).toMatch(/zstd was killed by SIGKILL/)
        expect(failure?.message.split('\n')).toHaveLength(1)
      }
    } finally {
      process.env.PATH = savedPath
    }
  })

  it('a read stopped at the first member ends quietly (the killed decompressor is no error)', async () => {
    const src = bigTree()
    for (const ext of ['tar.gz', 'tar.zst']) {
      const file = join(temp(), `a.${ext}`)
      await createArchive({cwd: src, file})
      const errors: unknown[] = []
      const onError = (error: unknown) => errors.push(error)
      process.on('uncaughtException', onError)
      try {
        expect(await readArchiveMember(file, 'nope', {firstOnly: true})).toBeUndefined()
        await new Promise((resolve) => setTimeout(resolve, 300))
      } finally {
        process.off('uncaughtException', onError)
      }
      expect(errors).toEqual([])
    }
  })
})
