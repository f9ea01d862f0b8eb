// A decompressor's output read only after it has exited: Node resumes (and so discards) a child's unread stdout on
// the tick after the child exits, so a reader that attaches after an await lost a small archive's whole output. Under
// load that left extraction waiting for ever (a CI timeout). Each reader here attaches only once the program is gone.
import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import type {Readable} from 'node:stream'
import {gzipSync} from 'node:zlib'
import {afterAll, describe, expect, it} from 'vitest'
import {openTar} from '../src/archive/compression.js'
import {EntryChecker} from '../src/archive/entry-check.js'
import {decoderFor, gnuUnpack, openTarFast} from '../src/archive/gnu-extract.js'
import {gnuTar, programDuplex} from '../src/archive/native.js'
import {cleanupTemp, type RawMember, rawTar, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const members: RawMember[] = [
  {path: 'd', type: 'Directory'},
  {path: 'd/a.txt', content: 'a'.repeat(3000)},
]

/** This process's children, by pid (the decompressor while it runs). */
function children(): string[] {
  try {
    return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
  } catch {
    return []
  }
}

/** Waits until the programs started since `before` have exited, and a few more ticks (Node's flush of their stdout). */
async function programsGone(before: string[]): Promise<void> {
  for (let i = 0; i < 400 && children().some((pid) => !before.includes(pid)); i++)
    await new Promise((r) => setTimeout(r, 25))
  await new Promise((r) => setTimeout(r, 100))
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Every byte of the stream `start` opens, read only once the programs it started have exited. */
async function readAfterExit(start: () => Promise<Readable>): Promise<Buffer> {
  const before = children()
  const stream = await start()
  await programsGone(before)
  return readAll(stream)
}

const tar = rawTar(members)

/** `tar` compressed (zlib for gzip, the zstd program) into a fresh folder: the file's path. */
function smallArchive(kind: 'gzip' | 'zstd'): string {
  const plain = join(temp(), 'small.tar')
  if (kind === 'gzip') {
    writeFileSync(`${plain}.gz`, gzipSync(tar))
    return `${plain}.gz`
  }
  writeFileSync(plain, tar)
  execFileSync('zstd', ['-q', plain, '-o', `${plain}.zst`])
  return `${plain}.zst`
}

describe('a program output read after the program exited', () => {
  it('gzip through pigz (openTarFast): every byte', async () => {
    const file = smallArchive('gzip')
    const out = await readAfterExit(async () => (await openTarFast(file, await decoderFor(file, 'gzip'))).stream)
    expect(out.equals(tar)).toBe(true)
  }, 20_000)

  it('zstd reading the open file (openTarFast): every byte', async () => {
    const file = smallArchive('zstd')
    const decoder = await decoderFor(file, 'zstd')
    expect(decoder?.kind).toBe('zstd')
    const out = await readAfterExit(async () => (await openTarFast(file, decoder)).stream)
    expect(out.equals(tar)).toBe(true)
  }, 20_000)

  for (const kind of ['gzip', 'zstd'] as const)
    it(`${kind}: GNU tar fed by data events (gnuUnpack) after the decoder exited: every byte`, async () => {
      const tarProgram = await gnuTar()
      if (!tarProgram) return
      const file = smallArchive(kind)
      const before = children()
      const source = await openTarFast(file, await decoderFor(file, kind))
      await programsGone(before)
      const dest = join(dirname(file), 'out')
      mkdirSync(dest)
      const result = await gnuUnpack(tarProgram, source, dest, new EntryChecker(undefined, 0), false, undefined)
      expect(result).toEqual({entries: 2, bytes: 3000})
      expect(readFileSync(join(dest, 'd/a.txt'), 'utf8')).toBe('a'.repeat(3000))
    }, 20_000)

  it('zstd reading the file itself (openTar): every byte', async () => {
    const file = smallArchive('zstd')
    expect((await readAfterExit(() => openTar(file))).equals(tar)).toBe(true)
  }, 20_000)

  it('a compressor fed and ended before its output is read (programDuplex): every byte', async () => {
    const out = await readAfterExit(async () => {
      const duplex = programDuplex('zstd', ['-q', '-c'])
      duplex.end(tar)
      return duplex
    })
    expect(execFileSync('zstd', ['-d', '-c', '-q'], {input: out}).equals(tar)).toBe(true)
  }, 20_000)
})
