// Review of the hand-written tar header reader (tarMembers, used by manifestForArchive): fed damaged streams (cut at
// every block boundary and at odd offsets, single bytes changed in headers with and without a fixed-up checksum),
// in odd chunkings, it must give exactly what node-tar's strict Parser alone gives (the members, or a refusal).
import {execFileSync} from 'node:child_process'
import {linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {manifestForArchive} from '../src/manifest/build.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'
import {nodeTarReading} from './tar-members-reference.js'

afterAll(() => cleanupTemp())

/** node-tar's strict Parser alone: the members, or 'refused' (manifestForArchive also refuses a cut stream). */
async function byNodeTar(data: Buffer): Promise<unknown> {
  const {files, failure, sawEnd} = await nodeTarReading(data)
  return failure || !sawEnd ? 'refused' : files
}

/** manifestForArchive's files, fed `data` in chunks of the given sizes (cycled), or 'refused'. */
async function byManifest(data: Buffer, steps: number[]): Promise<unknown> {
  const collector = manifestForArchive({...testMeta, created: 'x'})
  try {
    let i = 0
    for (let off = 0; off < data.length; ) {
      const step = steps[i++ % steps.length] as number
      collector.write(data.subarray(off, off + step))
      off += step
    }
    return (await collector.finish()).files
  } catch {
    return 'refused'
  }
}

/** A small deterministic generator (mulberry32): the same cases every run. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A header's checksum field made right again for its (changed) bytes, as GNU tar writes it. */
function fixChecksum(block: Buffer, at: number): void {
  block.fill(0x20, at + 148, at + 156)
  let sum = 0
  for (let i = at; i < at + 512; i++) sum += block[i] as number
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1')
}

/** Offsets of the header blocks of a plain (GNU, short-named) tar stream. */
function headerOffsets(tar: Buffer): number[] {
  const found: number[] = []
  for (let off = 0; off + 512 <= tar.length; ) {
    if (tar.subarray(off, off + 512).every((b) => b === 0)) break
    found.push(off)
    const size = Number.parseInt(
      tar
        .toString('latin1', off + 124, off + 136)
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    )
    off += 512 + Math.ceil(size / 512) * 512
  }
  return found
}

function tree(root: string): string {
  const src = join(root, 'src')
  mkdirSync(join(src, 'd/e'), {recursive: true})
  writeFileSync(join(src, 'd/e/f'), 'hello\n')
  writeFileSync(join(src, 'mid'), Buffer.alloc(1500, 3))
  writeFileSync(join(src, 'exact'), Buffer.alloc(1024, 4))
  writeFileSync(join(src, 'empty'), '')
  linkSync(join(src, 'd/e/f'), join(src, 'hard'))
  symlinkSync('d/e/f', join(src, 'sym'))
  writeFileSync(join(src, 'z'), 'last\n')
  return src
}

const CHUNKINGS = [[1 << 20], [512], [7], [511, 513], [100, 1000, 3]]

describe('the fast tar header reader against node-tar alone', () => {
  it('a stream cut at every block boundary and at odd offsets: the same members or the same refusal', async () => {
    const root = temp()
    const src = tree(root)
    const file = join(root, 'a.tar')
    execFileSync('tar', ['--format=gnu', '-cf', file, '-C', src, 'd', 'd/e', 'd/e/f', 'mid', 'exact', 'empty'], {
      stdio: 'ignore',
    })
    // a uid past 8 octal digits: GNU tar writes it in base-256, which node-tar reads
    execFileSync('tar', [
      '--format=gnu',
      '--no-recursion',
      '--owner=+3000000',
      '-rf',
      file,
      '-C',
      src,
      'hard',
      'sym',
      'z',
    ])
    const tar = readFileSync(file)
    const cuts = new Set<number>()
    for (let at = 0; at <= tar.length; at += 512)
      for (const d of [0, 1, 100, 511]) cuts.add(Math.min(at + d, tar.length))
    const mismatches: unknown[] = []
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const data = tar.subarray(0, cut)
      const expected = await byNodeTar(data)
      for (const steps of CHUNKINGS) {
        const got = await byManifest(data, steps)
        if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push({cut, steps, got, expected})
      }
    }
    expect(mismatches).toEqual([])
  })

  // node-tar decodes mode, uid, gid and mtime too, and refuses a header whose base-256 number there is not one it
  // can read (a first byte with the high bit set: 0x81-0xfe, or a value past 2^53): a valid checksum is not enough
  it('a byte of a header changed (checksum fixed up or not): the same members or the same refusal', async () => {
    const root = temp()
    const src = tree(root)
    const file = join(root, 'a.tar')
    execFileSync('tar', ['--format=gnu', '-cf', file, '-C', src, '.'], {stdio: 'ignore'})
    const tar = readFileSync(file)
    const headers = headerOffsets(tar)
    const next = random(13)
    const mismatches: unknown[] = []
    // every header, every field: printable and control bytes, NUL, '/', digits, space, high bytes
    const values = [0, 0x20, 0x2f, 0x30, 0x35, 0x37, 0x38, 0x0a, 0x41, 0x7f, 0x80, 0xff]
    for (let round = 0; round < 3000; round++) {
      const at = headers[Math.floor(next() * headers.length)] as number
      const mutated = Buffer.from(tar)
      const pos = Math.floor(next() * 512)
      mutated[at + pos] = values[Math.floor(next() * values.length)] as number
      if (next() < 0.7) fixChecksum(mutated, at)
      const expected = await byNodeTar(mutated)
      const steps = CHUNKINGS[round % CHUNKINGS.length] as number[]
      const got = await byManifest(mutated, steps)
      if (JSON.stringify(got) !== JSON.stringify(expected))
        mismatches.push({header: at, pos, value: mutated[at + pos], steps, got, expected})
    }
    expect(mismatches.map((m) => JSON.stringify({...(m as object), got: undefined}))).toEqual([])
  })
})

describe('the end-of-archive blocks, read without node-tar', () => {
  it('a byte set anywhere from the first zero block on, or a zero block between members: node-tar’s verdict', async () => {
    const root = temp()
    const src = tree(root)
    const file = join(root, 'a.tar')
    execFileSync('tar', ['--format=gnu', '-cf', file, '-C', src, 'd', 'd/e', 'd/e/f', 'mid', 'z'], {stdio: 'ignore'})
    const tar = readFileSync(file)
    const headers = headerOffsets(tar)
    const end = (() => {
      const last = headers.at(-1) as number
      const size = Number.parseInt(tar.toString('latin1', last + 124, last + 135).trim(), 8)
      return last + 512 + Math.ceil(size / 512) * 512
    })()
    const cases: {name: string; data: Buffer}[] = []
    // every byte of the two end blocks and a few of the padding after them, set to a non-zero value
    for (let pos = end; pos < Math.min(tar.length, end + 1536); pos += 37) {
      const data = Buffer.from(tar)
      data[pos] = 0x41
      cases.push({name: `byte at ${pos - end} past the members`, data})
    }
    // one zero block between two members, then the rest as it was
    const between = headers[2] as number
    cases.push({
      name: 'a zero block between members',
      data: Buffer.concat([tar.subarray(0, between), Buffer.alloc(512), tar.subarray(between)]),
    })
    // a zero block between members, its next block a header cut short
    cases.push({
      name: 'a zero block, then a cut header',
      data: Buffer.concat([tar.subarray(0, between), Buffer.alloc(512), tar.subarray(between, between + 300)]),
    })
    // the members and exactly one, exactly two, or two and some junk of end blocks
    for (const [name, tail] of [
      ['one end block', Buffer.alloc(512)],
      ['two end blocks', Buffer.alloc(1024)],
      ['two end blocks and junk', Buffer.concat([Buffer.alloc(1024), Buffer.from('junk after the end')])],
      ['two end blocks and half a block', Buffer.alloc(1024 + 256)],
    ] as const)
      cases.push({name, data: Buffer.concat([tar.subarray(0, end), tail])})
    const mismatches: unknown[] = []
    for (const {name, data} of cases) {
      const expected = await byNodeTar(data)
      for (const steps of CHUNKINGS) {
        const got = await byManifest(data, steps)
        if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push({name, steps, got, expected})
      }
    }
    expect(cases.length).toBeGreaterThan(40)
    expect(mismatches).toEqual([])
  })

  it('a GNU tar stream of plain members is read to its end without loading node-tar', () => {
    const root = temp()
    const src = tree(root)
    const file = join(root, 'plain.tar')
    execFileSync('tar', ['--format=gnu', '-cf', file, '-C', src, 'd', 'd/e', 'd/e/f', 'mid', 'exact', 'z'], {
      stdio: 'ignore',
    })
    // a fresh process (this one has node-tar loaded already): the members, and whether node-tar was required
    const script = `
      import {readFileSync} from 'node:fs'
      import {createRequire} from 'node:module'
      const {tarMembers} = await import(${JSON.stringify(new URL('../dist/manifest/tar-members.js', import.meta.url).href)})
      const files = []
      const reader = tarMembers({file: (path, size) => files.push(path + ':' + size), link() {}})
      reader.write(readFileSync(${JSON.stringify(file)}))
      await reader.end()
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => /[\\\\/]tar[\\\\/]dist[\\\\/]/.test(k))
      console.log(JSON.stringify({files, loaded}))
    `
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'})
    expect(JSON.parse(out)).toEqual({files: ['d/e/f:6', 'mid:1500', 'exact:1024', 'z:5'], loaded: false})
  })
})
