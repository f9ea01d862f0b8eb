// The zstd read-back in a thread (decode-thread.ts: `zstd -d` into a FIFO, the members read and hashed in a worker
// thread): for intact and damaged tar streams it gives exactly what the read-back on the main thread gives
// (decodeFileInto feeding manifestForArchive): the same members, or the same refusal; a decoder that
// fails or stops early is refused; the FIFO is gone afterwards, and one a killed run left is swept.
import {execFile, execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {gzipSync} from 'node:zlib'
import {afterAll, describe, expect, it} from 'vitest'
import {membersThread} from '../src/archive/decode-thread.js'
import {decodeFileInto, decodeInto, decoderCommand} from '../src/archive/to-file.js'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {manifestForArchive} from '../src/manifest/build.js'
import {cleanupTemp, standInPath, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(() => cleanupTemp())

const ZSTD = {program: 'zstd', args: ['-d', '-c', '-q']}

/**
 * The members, or the refusal's message. Not at which step it came: a chunk's refusal shows at the next chunk, or at
 * end() when none follows, and where chunks end depends on how the pipe's reads fell (on either thread); nor the
 * byte counts of node-tar's "Truncated input (needed N more bytes, only M available)", which depend on them too.
 */
type Outcome = {files: unknown} | {refused: string}
const refusal = (error: unknown) => ({refused: (error as Error).message.replace(/\d+/g, 'N')})

type Collector = ReturnType<typeof manifestForArchive>

/** A read-back of `file` into a collector by `decode`: the members it lists, or the refusal (the decode's or finish's). */
async function readBack(decode: (collector: Collector) => Promise<void>): Promise<Outcome> {
  const collector = manifestForArchive({...testMeta, created: 'x'})
  try {
    await decode(collector)
    return {files: (await collector.finish()).files}
  } catch (error) {
    return refusal(error)
  }
}

/** The read-back as it is on the main thread: decodeFileInto's chunks to the collector. */
const onMainThread = (file: string, size: number, command = ZSTD) =>
  readBack((collector) => decodeFileInto(command, file, size, (chunk) => collector.write(chunk)))

/** The same read-back in the thread. */
const inThread = (file: string, size: number, command = ZSTD) =>
  readBack((collector) => membersThread().decode(command, file, size, collector.members))

/** A tar stream of a tree with long names (pax / GNU long-name members) and files larger than a pipe's 64 KiB. */
function tarOf(root: string): Buffer {
  const src = join(root, 'src')
  makeTree(src)
  mkdirSync(join(src, 'big'))
  writeFileSync(join(src, 'big', 'a.bin'), Buffer.alloc(300_000, 'abcdefg'))
  writeFileSync(join(src, 'big', 'b.bin'), Buffer.alloc(70_001, 'x'))
  return execFileSync('tar', ['-cf', '-', '-C', src, '.'], {maxBuffer: 64 * 1024 * 1024})
}

describe('the zstd read-back in a thread', () => {
  it('gives what the main-thread read-back gives, for intact and damaged tar streams', async () => {
    const root = temp()
    const tar = tarOf(root)
    // a header in the middle of the stream (at a block boundary: not those bytes inside a file)
    let header = -1
    for (let at = 512; at < tar.length && header < 0; at += 512)
      if (tar.subarray(at, at + 12).equals(Buffer.from('./big/b.bin\0'))) header = at
    expect(header).toBeGreaterThan(0)
    const badSum = Buffer.from(tar)
    badSum[header + 3] = 0x5a // its name changed, its checksum not: node-tar refuses it
    const garbage = Buffer.concat([tar.subarray(0, header), Buffer.alloc(1536, 'garbage!')])
    const cases: [string, Buffer][] = [
      ['intact', tar],
      ['cut inside a member', tar.subarray(0, header + 512 + 20_000)],
      ['cut between members', tar.subarray(0, header)],
      ['a header with a bad checksum', badSum],
      ['garbage for a header', garbage],
      ['empty', Buffer.alloc(0)],
    ]
    for (const [what, bytes] of cases) {
      const file = join(root, `${what.replaceAll(' ', '-')}.zst`)
      writeFileSync(file, execFileSync('zstd', ['-q', '-c'], {input: bytes, maxBuffer: 64 * 1024 * 1024}))
      const size = execFileSync('stat', ['-c', '%s', file]).toString().trim()
      const main = await onMainThread(file, Number(size))
      expect({what, outcome: await inThread(file, Number(size))}).toEqual({what, outcome: main})
      if (what === 'intact') expect((main as {files: unknown[]}).files.length).toBeGreaterThan(5)
      else expect('refused' in main).toBe(true)
    }
    expect(readdirSync(root).filter((n) => n.endsWith('-decoded'))).toEqual([])
  })

  for (const [what, script] of [
    ['exits 0 before it read all of its input', 'head -c 1000 >/dev/null; exit 0'],
    ['exits 0 having written part of the stream', 'zstd -d -c -q | head -c 200000; exit 0'],
    ['fails', 'cat >/dev/null; echo "zstd: out of luck" >&2; exit 2'],
    ['fails having written part of the stream', 'zstd -d -c -q | head -c 100000; exit 3'],
  ] as const) {
    it(`refuses as the main thread does when the decoder ${what}, and leaves no FIFO`, async () => {
      const root = temp()
      const file = join(root, 'a.zst')
      writeFileSync(file, execFileSync('zstd', ['-q', '-c'], {input: tarOf(root), maxBuffer: 64 * 1024 * 1024}))
      const size = Number(execFileSync('stat', ['-c', '%s', file]).toString().trim())
      const command = {program: 'sh', args: ['-c', script]}
      const main = await onMainThread(file, size, command)
      expect('refused' in main).toBe(true)
      expect(await inThread(file, size, command)).toEqual(main)
      expect(readdirSync(root).sort()).toEqual(['a.zst', 'src'])
    })
  }

  it('where no FIFO can be made, reads the members on the main thread, with the same outcome', async () => {
    const root = temp()
    const tar = tarOf(root)
    const bin = join(root, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'mkfifo'), '#!/bin/sh\necho "mkfifo: Operation not permitted" >&2\nexit 1\n', {mode: 0o755})
    const saved = process.env.PATH
    process.env.PATH = `${bin}:${saved}`
    try {
      for (const bytes of [tar, tar.subarray(0, 10_240)]) {
        const file = join(root, 'a.zst')
        writeFileSync(file, execFileSync('zstd', ['-q', '-c'], {input: bytes, maxBuffer: 64 * 1024 * 1024}))
        const size = Number(execFileSync('stat', ['-c', '%s', file]).toString().trim())
        expect(await inThread(file, size)).toEqual(await onMainThread(file, size))
      }
    } finally {
      process.env.PATH = saved
    }
    expect(readdirSync(root).sort()).toEqual(['a.zst', 'bin', 'src'])
  })

  it('refuses a file of another size before it decodes it', async () => {
    const root = temp()
    const file = join(root, 'a.zst')
    writeFileSync(file, execFileSync('zstd', ['-q', '-c'], {input: Buffer.alloc(10_240)}))
    const outcome = await inThread(file, 1)
    expect(outcome).toMatchObject({refused: expect.stringMatching(/bytes to decode, N written/)})
  })

  it('a thread stopped while it loads its modules leaves no descriptor open', async () => {
    // the thread pool kept busy: the thread's reads of its module files wait there, and a stop once it was 'online'
    // landed in the middle (the module file's descriptor left open for good: 4 in 120 before)
    // (the child runs the built core, dist/)
    const child = join(dirname(fileURLToPath(import.meta.url)), 'thread-stop-child.mjs')
    // (not execFileSync: a minute blocking this process times out the test runner's own calls)
    const {stdout: out} = await promisify(execFile)(process.execPath, [child, 'decode', '60'], {
      encoding: 'utf8',
      env: {...process.env, UV_THREADPOOL_SIZE: '2'},
      timeout: 110_000,
    })
    expect(JSON.parse(out)).toEqual([])
  })

  it('a FIFO a killed run left beside the archive is swept by the next run', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const out = join(root, 'out')
    mkdirSync(out)
    // what a run killed (kill -9) in its read-back left: the FIFO under its temp name (a pid no process has)
    execFileSync('mkfifo', [join(out, '.a.tar.zst.bk-partial-99999999-AbCdEf-decoded')])
    execFileSync('mkfifo', [join(out, '.a.tar.zst.bk-partial-99999999-AbCdEf-body-decoded')])
    await createArchiveWithManifest({cwd: src, file: join(out, 'a.tar.zst'), meta: testMeta})
    expect(readdirSync(out).sort()).toEqual(['a.tar.zst'])
  })

  it('a signal during the read-back ends the process, even with the FIFO still held open, and leaves nothing', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const out = join(root, 'out')
    mkdirSync(out)
    const marks = join(root, 'marks')
    mkdirSync(marks)
    // `zstd -d`: a shell whose child holds its stdout (the FIFO) open, and outlives the shell's SIGKILL
    const path = standInPath(root, {
      zstd: `case "$1" in -d) sleep 600 & echo $! > ${marks}/sleeper; touch ${marks}/decoding; wait; exit 0;; esac\nexec "$REAL" "$@"`,
    })
    const here = dirname(fileURLToPath(import.meta.url))
    const file = join(out, 'a.tar.zst')
    const child = spawn(process.execPath, [join(here, 'archive-child.mjs'), 'create-manifested', src, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {...process.env, PATH: path},
    })
    let told = ''
    child.stdout.on('data', (d) => {
      told += d
    })
    child.stderr.on('data', (d) => {
      told += d
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      while (!existsSync(join(marks, 'decoding'))) {
        if (child.exitCode !== null) throw new Error(`ended before its read-back: ${told}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await new Promise((resolve) => setTimeout(resolve, 300)) // (its thread then waits in its read)
      child.kill('SIGTERM')
      expect(await exited).toBe(143)
      expect(told).not.toContain('done')
      expect(readdirSync(out)).toEqual([]) // no archive, no partial file, no FIFO
    } finally {
      child.kill('SIGKILL')
      const sleeper = Number(readFileSync(join(marks, 'sleeper'), 'utf8'))
      if (sleeper > 0) process.kill(sleeper, 'SIGKILL')
    }
  })
})

// gzip's check runs alongside its compressor, fed by Node as the file is read back (decodeInto): the thread's
// version (membersThread().alongside) gives the same members or the same refusal, whatever the damage.
describe('the gzip read-back in a thread', () => {
  /** Feeds `bytes` in pieces of `piece` bytes, as compressIntoFile's read-back does, then ends. */
  async function feed(
    check: {write(chunk: Buffer): Promise<void>; done(): Promise<void>},
    bytes: Buffer,
    piece = 40_000,
  ) {
    try {
      for (let at = 0; at < bytes.length; at += piece) await check.write(Buffer.from(bytes.subarray(at, at + piece)))
    } finally {
      await check.done()
    }
  }

  async function outcomes(file: string, bytes: Buffer) {
    const command = (await decoderCommand('gzip')) as {program: string; args: string[]}
    const main = await readBack((collector) =>
      feed(
        decodeInto(command, (chunk) => collector.write(chunk)),
        bytes,
      ),
    )
    let threaded = false
    const thread = await readBack((collector) => {
      const check = membersThread().alongside(command, file, collector.members)
      threaded = check !== undefined
      return check ? feed(check, bytes) : Promise.reject(new Error('no thread'))
    })
    return {main, thread, threaded}
  }

  it('gives what the main-thread check gives, for intact and damaged .tar.gz files', async () => {
    const root = temp()
    const tar = tarOf(root)
    const gz = gzipSync(tar)
    // the CRC-32 in the trailer (8 bytes from the end) flipped; the body intact
    const badCrc = Buffer.from(gz)
    badCrc[gz.length - 8] = (badCrc[gz.length - 8] as number) ^ 0xff
    const badBody = Buffer.from(gz)
    badBody[Math.floor(gz.length / 2)] = (badBody[Math.floor(gz.length / 2)] as number) ^ 0x55
    let header = -1
    for (let at = 512; at < tar.length && header < 0; at += 512)
      if (tar.subarray(at, at + 12).equals(Buffer.from('./big/b.bin\0'))) header = at
    const cases: [string, Buffer][] = [
      ['intact', gz],
      ['a bad CRC', badCrc],
      ['a damaged body', badBody],
      ['cut', gz.subarray(0, Math.floor(gz.length * 0.6))],
      ['trailing junk', Buffer.concat([gz, Buffer.from('trailing garbage')])],
      ['trailing zeros', Buffer.concat([gz, Buffer.alloc(100)])],
      ['a tar stream cut between members', gzipSync(tar.subarray(0, header))],
      ['two gzip members', Buffer.concat([gzipSync(tar.subarray(0, 700)), gzipSync(tar.subarray(700))])],
    ]
    for (const [what, bytes] of cases) {
      const file = join(root, `${what.replaceAll(' ', '-')}.tar.gz`)
      writeFileSync(file, bytes)
      const {main, thread, threaded} = await outcomes(file, bytes)
      expect({what, threaded, outcome: thread}).toEqual({what, threaded: true, outcome: main})
      if (what === 'intact' || what === 'two gzip members')
        expect((main as {files: unknown[]}).files.length).toBeGreaterThan(5)
      else expect('refused' in main, what).toBe(true)
    }
    expect(readdirSync(root).filter((n) => n.endsWith('-decoded'))).toEqual([])
  })

  it('where no FIFO can be made, gives no thread and leaves nothing', async () => {
    const root = temp()
    const bin = join(root, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'mkfifo'), '#!/bin/sh\nexit 1\n', {mode: 0o755})
    const saved = process.env.PATH
    process.env.PATH = `${bin}:${saved}`
    try {
      const command = (await decoderCommand('gzip')) as {program: string; args: string[]}
      const collector = manifestForArchive({...testMeta, created: 'x'})
      expect(membersThread().alongside(command, join(root, 'a.tar.gz'), collector.members)).toBeUndefined()
    } finally {
      process.env.PATH = saved
    }
    expect(readdirSync(root)).toEqual(['bin'])
  })

  it('a .tar.gz written with a manifest reads its members through the FIFO, and lists what it decodes to', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(300_000, 'abcdefg'))
    const out = join(root, 'out')
    mkdirSync(out)
    const made = join(root, 'made')
    const saved = process.env.PATH
    process.env.PATH = standInPath(root, {mkfifo: `echo "$@" >> ${made}\nexec "$REAL" "$@"`})
    try {
      const file = join(out, 'a.tar.gz')
      const written = await createArchiveWithManifest({cwd: src, file, meta: testMeta})
      const big = written.manifest.files.find((f) => f.path === 'big.bin')
      const sha256 = execFileSync('sha256sum', [join(src, 'big.bin')])
        .toString()
        .split(' ')[0]
      expect(big).toMatchObject({size: 300_000, sha256})
      expect(readdirSync(out)).toEqual(['a.tar.gz'])
    } finally {
      process.env.PATH = saved
    }
    expect(readFileSync(made, 'utf8')).toMatch(/\.a\.tar\.gz\.bk-partial-.*-decoded/)
  })

  it('a signal while pigz -d holds the FIFO open ends the process, and leaves nothing', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const out = join(root, 'out')
    mkdirSync(out)
    const marks = join(root, 'marks')
    mkdirSync(marks)
    // `pigz -d`: a shell whose child holds its stdout (the FIFO) open, and outlives the shell's SIGKILL
    const path = standInPath(root, {
      pigz: `case "$1" in -d) sleep 600 & echo $! > ${marks}/sleeper; touch ${marks}/decoding; cat >/dev/null; wait; exit 0;; esac\nexec "$REAL" "$@"`,
    })
    const here = dirname(fileURLToPath(import.meta.url))
    const file = join(out, 'a.tar.gz')
    const child = spawn(process.execPath, [join(here, 'archive-child.mjs'), 'create-manifested', src, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {...process.env, PATH: path},
    })
    let told = ''
    child.stdout.on('data', (d) => {
      told += d
    })
    child.stderr.on('data', (d) => {
      told += d
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      while (!existsSync(join(marks, 'decoding'))) {
        if (child.exitCode !== null) throw new Error(`ended before its read-back: ${told}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await new Promise((resolve) => setTimeout(resolve, 300)) // (its thread then waits in its read)
      child.kill('SIGTERM')
      expect(await exited).toBe(143)
      expect(told).not.toContain('done')
      expect(readdirSync(out)).toEqual([]) // no archive, no partial file, no FIFO
    } finally {
      child.kill('SIGKILL')
      const sleeper = Number(readFileSync(join(marks, 'sleeper'), 'utf8'))
      if (sleeper > 0) process.kill(sleeper, 'SIGKILL')
    }
  })
})
