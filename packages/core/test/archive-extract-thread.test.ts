// The GNU tar engine with the tar stream read and checked in a thread (extract-thread.ts): the decompressor writes
// into a FIFO, the thread checks every entry and writes the approved blocks into tar's FIFO. The same tree as
// before, byte for byte; the same refusals; nothing of the FIFOs left; a signal ends the process even while the
// thread waits on a FIFO a stray process holds open. Runs the built thread (dist): build core first.
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {rawTar, rejection, restorePath, snapshot, standInPath, temp, useTempDirs} from './archive-helpers.js'

useTempDirs()
afterEach(restorePath)

const here = dirname(fileURLToPath(import.meta.url))
let src = ''
const archives: Record<'gz' | 'zst', string> = {gz: '', zst: ''}

beforeAll(async () => {
  src = join(temp(), 'src')
  mkdirSync(join(src, 'deep', 'er', 'est'), {recursive: true})
  mkdirSync(join(src, 'empty'))
  // sizes around a block and above a read (1 MiB), random (stored by the compressor) and repetitive
  for (const size of [0, 1, 511, 512, 513, 65_537, 1024 * 1024 + 7, 3 * 1024 * 1024 + 100])
    writeFileSync(join(src, 'deep', `r${size}.bin`), randomBytes(size))
  writeFileSync(join(src, 'deep', 'er', 'text.log'), 'line of a log\n'.repeat(200_000))
  writeFileSync(join(src, 'deep', 'er', 'est', `${'long-name-'.repeat(15)}.txt`), 'a long name\n')
  symlinkSync('er/text.log', join(src, 'deep', 'link'))
  linkSync(join(src, 'deep', 'r513.bin'), join(src, 'deep', 'hard.bin'))
  const dir = temp()
  archives.gz = join(dir, 'a.tar.gz')
  archives.zst = join(dir, 'a.tar.zst')
  await createArchive({cwd: src, file: archives.gz})
  await createArchive({cwd: src, file: archives.zst})
})

/**
 * A PATH where pigz, zstd and tar write what their stdout (the decoders) or stdin (tar) is into `log`, then run as
 * themselves: `.bk-fifo-<pid>-in (deleted)` is the thread's FIFO, `socket:[…]` Node's pipe.
 */
function loggingPath(log: string, extra: Record<string, string> = {}): string {
  const decoder = `out=$(readlink /proc/$$/fd/1)\necho "$out" >> '${log}'\nexec "$REAL" "$@"`
  return standInPath(temp(), {
    pigz: decoder,
    zstd: decoder,
    tar: `case "$1" in --extract) in=$(readlink /proc/$$/fd/0); echo "$in" >> '${log}';; esac\nexec "$REAL" "$@"`,
    ...extra,
  })
}
const throughFifos = (log: string) => {
  const lines = readFileSync(log, 'utf8').trim().split('\n')
  return lines.length === 2 && lines.every((l) => /\/\.bk-fifo-\d+-(in|out) \(deleted\)$/.test(l))
}

describe('the stream read and checked in a thread, between FIFOs', () => {
  for (const ext of ['gz', 'zst'] as const) {
    it(`.tar.${ext}: every byte, mode and link as archived, and nothing of the FIFOs left`, async () => {
      const dir = temp()
      const log = join(dir, 'log')
      process.env.PATH = loggingPath(log)
      const target = join(dir, 'out')
      const done: number[] = []
      const result = await extractArchive({file: archives[ext], target, onProgress: (n) => done.push(n)})
      expect(throughFifos(log)).toBe(true)
      expect(snapshot(target)).toEqual(snapshot(src))
      for (const name of ['r1048583.bin', 'r3145828.bin', 'r513.bin', 'r0.bin'])
        expect(readFileSync(join(target, 'deep', name)).equals(readFileSync(join(src, 'deep', name)))).toBe(true)
      expect(readdirSync(dir).sort()).toEqual(['log', 'out'])
      // every regular file once (hard.bin is a link to r513.bin)
      const sizes = [0, 1, 511, 512, 513, 65_537, 1024 * 1024 + 7, 3 * 1024 * 1024 + 100]
      expect(result.bytes).toBe(sizes.reduce((a, b) => a + b) + 14 * 200_000 + 12)
      // progress: increasing, up to every regular file's bytes
      expect(done.at(-1)).toBe(result.bytes)
      expect([...done].sort((a, b) => a - b)).toEqual(done)
    })
  }

  it('a header with a bad checksum after megabytes of data: corrupt, nothing left', async () => {
    const dir = temp()
    const tar = rawTar([
      // 2 MiB of text (rawTar takes a string)
      {path: 'big.bin', content: randomBytes(1.5 * 1024 * 1024).toString('base64')},
      {path: 'next.txt', content: 'next'},
      {path: 'last.txt', content: 'last'},
    ])
    // the second header's name changed after its checksum was written
    const second = 512 + 2 * 1024 * 1024
    expect(tar.toString('latin1', second, second + 8)).toBe('next.txt')
    tar[second] = 'm'.charCodeAt(0)
    const file = join(dir, 'bad.tar.gz')
    writeFileSync(file, gzipSync(tar))
    const log = join(dir, 'log')
    process.env.PATH = loggingPath(log)
    const failure = await rejection(extractArchive({file, target: join(dir, 'out')}))
    expect(failure.code).toBe('ECORRUPT')
    expect(failure.message).toMatch(/checksum/)
    expect(throughFifos(log)).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(['bad.tar.gz', 'log'])
  })

  it('an unsafe entry after megabytes of data is refused, naming it; nothing extracted, nothing outside', async () => {
    const dir = temp()
    const file = join(dir, 'evil.tar.gz')
    writeFileSync(
      file,
      rawTar(
        [
          {path: 'big.bin', content: randomBytes(3 * 1024 * 1024).toString('base64')},
          {path: '../evil.txt', content: 'outside'},
          {path: 'after.txt', content: 'after'},
        ],
        {gzip: true},
      ),
    )
    const log = join(dir, 'log')
    process.env.PATH = loggingPath(log)
    const failure = await rejection(extractArchive({file, target: join(dir, 'sub', 'out')}))
    expect(failure.code).toBe('EUNSAFE')
    expect(failure.message).toContain("'../evil.txt'")
    expect(throughFifos(log)).toBe(true)
    expect(readdirSync(join(dir, 'sub'))).toEqual([])
    expect(existsSync(join(dir, 'evil.txt'))).toBe(false)
  })

  it('a gzip stream damaged after its tar end is still refused (the decoder read to the end, its verdict counts)', async () => {
    const dir = temp()
    const good = readFileSync(archives.gz)
    const file = join(dir, 'cut.tar.gz')
    // the last 8 bytes are the CRC-32 and length: a changed CRC only the decoder's check finds
    const bad = Buffer.from(good)
    bad[bad.length - 8] = (bad[bad.length - 8] as number) ^ 0xff
    writeFileSync(file, bad)
    const failure = await rejection(extractArchive({file, target: join(dir, 'out')}))
    expect(failure.code).toBe('ECORRUPT')
    expect(readdirSync(dir)).toEqual(['cut.tar.gz'])
  })

  it('where no FIFO can be made, the stream goes through Node as before, with the same tree', async () => {
    const dir = temp()
    const log = join(dir, 'log')
    process.env.PATH = loggingPath(log, {mkfifo: 'exit 1'})
    const target = join(dir, 'out')
    await extractArchive({file: archives.gz, target})
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      expect.stringMatching(/^socket:/),
      expect.stringMatching(/^socket:/),
    ])
    expect(snapshot(target)).toEqual(snapshot(src))
  })
})

describe('a signal while the thread waits', () => {
  it('ends the process even when a decoder left a process holding its FIFO open, and leaves nothing', async () => {
    const dir = temp()
    const big = join(dir, 'big')
    mkdirSync(big)
    for (let i = 0; i < 32; i++) writeFileSync(join(big, `chunk-${i}.bin`), randomBytes(1024 * 1024))
    const file = join(dir, 'big.tar.gz')
    await createArchive({cwd: big, file})
    // 16 MiB of the stream, then a process that keeps the FIFO open and writes nothing more
    const stray = join(dir, 'stray.pid')
    const stalling = `for a in "$@"; do case "$a" in -d) "$REAL" "$@" | { head -c 16777216; sh -c 'echo $$ > ${stray}; exec sleep 600'; }; exit;; esac; done\nexec "$REAL" "$@"`
    const env = {...process.env, PATH: standInPath(temp(), {pigz: stalling})}
    const target = join(dir, 'out', 'restored')
    mkdirSync(dirname(target))
    const child = spawn(process.execPath, [join(here, 'archive-child.mjs'), 'extract', file, target], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    })
    let out = ''
    const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
      child.on('exit', (code, signal) => resolve({code, signal})),
    )
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('progress')) resolve()
      })
      child.on('exit', () => reject(new Error(`ended before it was interrupted: ${out}`)))
    })
    try {
      // the thread now waits on the FIFO: the decoder's output stalls (and would for 10 minutes, past the test's time)
      await new Promise((r) => setTimeout(r, 300))
      child.kill('SIGTERM')
      const r = await exited
      expect(r.code === 143 || r.signal === 'SIGTERM').toBe(true)
      expect(out).not.toContain('done')
      expect(readdirSync(dirname(target))).toEqual([])
    } finally {
      // the stray process this test made: it held the FIFO all along
      if (existsSync(stray)) process.kill(Number(readFileSync(stray, 'utf8')), 'SIGKILL')
      child.kill('SIGKILL')
    }
  })
})
