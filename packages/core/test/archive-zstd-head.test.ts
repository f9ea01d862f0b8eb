import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {compressBuffer} from '../src/archive/compression.js'
import {memberBlocks} from '../src/archive/create.js'
import {checkArchive, extractArchive} from '../src/archive/index.js'
import {missingHeadBytes} from '../src/archive/zstd-head.js'
import {createBkArchive, MANIFEST_NAME, readManifest, verifyManifest} from '../src/manifest/index.js'
import {serializeManifest} from '../src/manifest/io.js'
import {setWarningOutput} from '../src/ui/warn.js'
import {cleanupTemp, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'
import {frameChecksum, lanesOf, rawFrame} from './zstd-frame.js'

afterAll(cleanupTemp)
afterEach(() => setWarningOutput((message) => process.stderr.write(`bk: warning: ${message}\n`)))

const zstdOf = (data: Buffer) => spawnSync('zstd', ['-q', '-c', '-3'], {input: data}).stdout as Buffer
const zstdAccepts = (file: string) => spawnSync('zstd', ['-t', '-q', file]).status === 0
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** A healthy bk archive (good.tar.zst) of the test tree, its manifest, and its body: every frame after the head. */
async function healthyArchive() {
  const root = temp()
  const src = join(root, 'src')
  makeTree(src)
  const good = join(root, 'good.tar.zst')
  await createBkArchive({
    cwd: src,
    file: good,
    meta: {
      plugin: {name: '@bkcli/core', version: '0'},
      application: 'test',
      kind: 'full',
      source: src,
      components: [{type: 'files', path: '.', count: 1, bytes: 1}],
    },
  })
  const bytes = readFileSync(good)
  return {root, src, manifest: await readManifest(good), body: bytes.subarray(headLength(bytes))}
}

/** Length of the first frame of a healthy file: the offset of the second zstd magic number that zstd accepts. */
function headLength(bytes: Buffer): number {
  const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])
  for (let at = bytes.indexOf(magic, 4); at > 0; at = bytes.indexOf(magic, at + 1)) {
    if (spawnSync('zstd', ['-t', '-q'], {input: bytes.subarray(0, at)}).status === 0) return at
  }
  throw new Error('no second frame')
}

/** The first k ≥ 0 for which make(k) compresses to a zstd frame whose last byte is 0x0a (about 1 in 256). */
function endingInNewline(make: (k: number) => Buffer): Buffer {
  for (let k = 0; k < 20_000; k++) {
    const data = make(k)
    if (zstdOf(data).at(-1) === 0x0a) return data
  }
  throw new Error('no input found whose zstd frame ends in 0x0a')
}

describe('compressBuffer keeps every byte of a zstd frame', () => {
  it('a frame whose last byte is 0x0a comes back whole (execa strips a final newline by default)', async () => {
    const data = endingInNewline((k) => Buffer.from(`{"member": ${k}}\n`.repeat(40)))
    const expected = zstdOf(data)
    const head = await compressBuffer(data, 'zstd')
    expect(head.at(-1)).toBe(0x0a)
    expect(head.equals(expected)).toBe(true)
    expect(spawnSync('zstd', ['-d', '-c', '-q'], {input: head}).stdout.equals(data)).toBe(true)
  })
})

describe('reading a bk archive whose manifest frame lost its last byte (bk before the fix)', () => {
  /** A healthy bk archive, and the same archive with the old defect: its head frame ends in 0x0a, then dropped. */
  async function damagedArchive() {
    const {root, src, manifest, body} = await healthyArchive()
    // trailing spaces after the JSON vary the frame until its last byte is 0x0a, as the old defect needed
    const member = endingInNewline((k) =>
      memberBlocks({name: MANIFEST_NAME, content: serializeManifest(manifest) + ' '.repeat(k), mode: 0o644}),
    )
    const head = await compressBuffer(member, 'zstd')
    const whole = join(root, 'whole.tar.zst')
    writeFileSync(whole, Buffer.concat([head, body]))
    const damaged = join(root, 'damaged.tar.zst')
    writeFileSync(damaged, Buffer.concat([head.subarray(0, -1), body]))
    return {root, src, manifest, head, whole, damaged}
  }

  it('is recognised exactly, read whole, verified and extracted, with a warning naming the file', async () => {
    const {root, src, manifest, head, whole, damaged} = await damagedArchive()
    expect(zstdAccepts(whole)).toBe(true)
    expect(zstdAccepts(damaged)).toBe(false)
    expect(spawnSync('tar', ['--zstd', '-tf', damaged]).status).not.toBe(0)
    expect(await missingHeadBytes(whole)).toBeUndefined()
    expect(await missingHeadBytes(damaged)).toEqual({offset: head.length - 1, bytes: Buffer.of(0x0a)})

    const warnings: string[] = []
    setWarningOutput((message) => warnings.push(message))
    expect(await readManifest(damaged)).toEqual(manifest)
    const verified = await verifyManifest(damaged)
    expect(verified).toMatchObject({ok: true, missing: [], changed: [], extra: []})
    expect(verified.checked).toBe(manifest.files.length)
    // the archive's own hash is of the bytes as stored (what sidecars and catalogs recorded)
    expect((await checkArchive(damaged)).sha256).toBe(sha256(damaged))
    const out = join(root, 'out')
    await extractArchive({file: damaged, target: out})
    expect(snapshot(out, {skip: [MANIFEST_NAME]})).toEqual(snapshot(src))
    expect(warnings.length).toBeGreaterThan(0)
    expect(warnings.every((w) => w.includes(damaged) && /make a new backup/.test(w))).toBe(true)
  })

  it('leaves any other damage alone: a changed byte in the same place still fails', async () => {
    const {root, head, damaged} = await damagedArchive()
    const bytes = readFileSync(damaged)
    const other = join(root, 'other.tar.zst')
    // the same shape (one byte short) but a wrong checksum byte: not the old defect, so no repair
    const changed = Buffer.from(bytes)
    changed[head.length - 2] = (changed[head.length - 2] as number) ^ 0xff
    writeFileSync(other, changed)
    expect(await missingHeadBytes(other)).toBeUndefined()
    await expect(readManifest(other)).rejects.toThrow()
    // a healthy bk archive is never touched
    expect(await missingHeadBytes(join(root, 'good.tar.zst'))).toBeUndefined()
  })
})

describe('the old defect also dropped a final CR LF whole (strip-final-newline), 1 archive in 65536', () => {
  it('a manifest frame ending in 0x0d 0x0a that lost both bytes is read whole, with a warning', async () => {
    const {root, src, manifest, body} = await healthyArchive()
    // the manifest member, its JSON followed by 16 whitespace characters varied until the frame ends in CR LF
    const json = serializeManifest(manifest)
    const member = memberBlocks({name: MANIFEST_NAME, content: `${json}${' '.repeat(16)}`, mode: 0o644})
    const varyAt = 512 + Buffer.byteLength(json)
    const from = varyAt - (varyAt % 32)
    const lanes = lanesOf(member, from)
    let found = false
    for (let k = 0; k < 3 ** 16 && !found; k++) {
      for (let i = 0, rest = k; i < 16; i++, rest = Math.floor(rest / 3))
        member[varyAt + i] = [0x20, 0x09, 0x0a][rest % 3] as number
      const sum = frameChecksum(member, from, lanes)
      found = sum[2] === 0x0d && sum[3] === 0x0a
    }
    expect(found).toBe(true)
    const head = rawFrame(member)
    expect(head.subarray(-2)).toEqual(Buffer.of(0x0d, 0x0a))
    const whole = join(root, 'whole.tar.zst')
    writeFileSync(whole, Buffer.concat([head, body]))
    expect(zstdAccepts(whole)).toBe(true)
    const damaged = join(root, 'damaged.tar.zst')
    writeFileSync(damaged, Buffer.concat([head.subarray(0, -2), body]))
    expect(zstdAccepts(damaged)).toBe(false)

    expect(await missingHeadBytes(whole)).toBeUndefined()
    expect(await missingHeadBytes(damaged)).toEqual({offset: head.length - 2, bytes: Buffer.of(0x0d, 0x0a)})
    const warnings: string[] = []
    setWarningOutput((message) => warnings.push(message))
    expect(await readManifest(damaged)).toEqual(manifest)
    expect(await verifyManifest(damaged)).toMatchObject({ok: true, missing: [], changed: [], extra: []})
    expect((await checkArchive(damaged)).sha256).toBe(sha256(damaged))
    const out = join(root, 'out')
    await extractArchive({file: damaged, target: out})
    expect(snapshot(out, {skip: [MANIFEST_NAME]})).toEqual(snapshot(src))
    expect(warnings.some((w) => w.includes(damaged) && /two bytes/.test(w))).toBe(true)
  })
})

describe('odd files are never repaired and never make the check throw', () => {
  const second = rawFrame(Buffer.from('second frame'))
  const cases: Array<[string, Buffer]> = [
    ['an empty file', Buffer.alloc(0)],
    ['a tiny file (< 9 bytes) with the magic number', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58])],
    ['a gzip file', spawnSync('gzip', ['-c'], {input: Buffer.from('not zstd\n')}).stdout as Buffer],
    ['a file of one frame (zstd, single segment with content size)', zstdOf(Buffer.from('one frame\n'))],
    ['a file of one hand-made single-segment frame', rawFrame(Buffer.from('x'), {singleSegment: true})],
    ['a skippable frame first', Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]), second])],
    ['a frame with a dictionary id, then another', Buffer.concat([rawFrame(Buffer.from('d'), {dictId: 7}), second])],
    ['two healthy frames', Buffer.concat([rawFrame(Buffer.from('first')), second])],
    ['a truncated frame', rawFrame(Buffer.from('truncated'.repeat(10))).subarray(0, 40)],
    ['a frame one byte short with nothing after it', rawFrame(Buffer.from('short')).subarray(0, -1)],
    ['a frame header only', rawFrame(Buffer.from('h')).subarray(0, 9)],
  ]
  for (const [name, bytes] of cases) {
    it(name, async () => {
      const file = join(temp(), 'odd.tar.zst')
      writeFileSync(file, bytes)
      expect(await missingHeadBytes(file)).toBeUndefined()
    })
  }
})
