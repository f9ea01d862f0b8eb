import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {compressBuffer, compressStream} from '../src/archive/compression.js'
import {memberBlocks, memberPieces, memberStream} from '../src/archive/create.js'
import {completeManifest, type ManifestFile, serializeManifest, writeManifestText} from '../src/manifest/index.js'
import {manifestText, manifestTextChunks} from '../src/manifest/io.js'

const meta = {
  plugin: {name: '@bkcli/plugin-trac', version: '1.0.0'},
  application: 'trac',
  kind: 'hotcopy',
  source: '/srv/trac/"quoted"\nenv',
  components: [{type: 'files' as const, path: '.', count: 1, bytes: 2}],
  extra: {database: 'sqlite:db/trac.db', external: []},
  created: '2026-01-01T00:00:00.000Z',
}

describe('writeManifestText', () => {
  it.each([0, 3, 512, 513, 1024, 2049, 5000])(
    'writes the bytes serializeManifest gives, for %i files',
    async (count) => {
      const dir = tempDir()
      const files: ManifestFile[] = []
      for (let i = 0; i < count; i++) {
        // names JSON escapes (quote, backslash, tab, non-ASCII) among plain ones
        const name = i % 7 === 0 ? `we"ird\\t\t-é-${i}` : `files/attachments/ticket/${i.toString(16)}/${i}.txt`
        files.push({path: name, size: i * 3, sha256: i.toString(16).padStart(64, '0')})
      }
      const manifest = completeManifest(meta, files)
      const file = join(dir, 'bk-manifest.json')
      await writeManifestText(file, manifest, 'in a test')
      expect(readFileSync(file, 'utf8')).toBe(serializeManifest(manifest, 'in a test'))
    },
  )

  it('refuses an invalid manifest, naming it, and writes nothing complete', async () => {
    const dir = tempDir()
    const files = Array.from({length: 3000}, (_, i) => ({path: `f${i}`, size: i, sha256: 'not a hash'}))
    const file = join(dir, 'bk-manifest.json')
    await expect(writeManifestText(file, completeManifest(meta, files), 'in a test')).rejects.toThrow(/in a test/)
    expect(() => readFileSync(file)).toThrow()
  })
})

describe('the manifest member in pieces (createBkArchive)', () => {
  const files: ManifestFile[] = Array.from({length: 5000}, (_, i) => ({
    path: i % 9 === 0 ? `n\u00e9-${i}` : `db/files/msg/${i >> 8}/msg${i}`,
    size: i,
    sha256: i.toString(16).padStart(64, '0'),
  }))
  const manifest = completeManifest(meta, files)

  it('pieces that join to serializeManifest’s text, a member that joins to memberBlocks’ bytes', () => {
    const chunks = manifestTextChunks(manifest, 'in a test')
    expect(chunks.length).toBeGreaterThan(2)
    const text = serializeManifest(manifest, 'in a test')
    expect(Buffer.concat(chunks).toString('utf8')).toBe(text)
    const pieces = memberPieces('bk-manifest.json', chunks)
    const whole = memberBlocks({name: 'bk-manifest.json', content: text, mode: 0o644})
    // the header's mtime is the time of the call: equal but for the seconds of that field and the checksum
    const joined = Buffer.concat(pieces)
    expect(joined.length).toBe(whole.length)
    expect(joined.subarray(512).equals(whole.subarray(512))).toBe(true)
    expect(joined.subarray(0, 124).equals(whole.subarray(0, 124))).toBe(true)
  })

  it('compressed from its pieces: the same gzip member as from one buffer, a zstd frame that decodes to it', async () => {
    const pieces = memberPieces('bk-manifest.json', manifestTextChunks(manifest, 'in a test'))
    const joined = Buffer.concat(pieces)
    const gz = await compressBuffer(pieces, 'gzip')
    expect(gz.equals(gzipSync(joined, {level: 6}))).toBe(true)
    expect(gunzipSync(gz).equals(joined)).toBe(true)
    const zst = await compressBuffer(pieces, 'zstd')
    expect(execFileSync('zstd', ['-d', '-c', '-q'], {input: zst, maxBuffer: 64 << 20}).equals(joined)).toBe(true)
    expect((await compressBuffer(pieces, 'none')).equals(joined)).toBe(true)
  })
})

describe('the manifest member streamed (createBkArchive)', () => {
  const files: ManifestFile[] = Array.from({length: 1500}, (_, i) => ({
    path: i % 5 === 0 ? `n\u00e9-\u{1f600}-${i}` : `db/files/msg/${i >> 8}/msg${i}`,
    size: i,
    sha256: i.toString(16).padStart(64, '0'),
  }))
  const manifest = completeManifest(meta, files)

  async function joined(stream: AsyncIterable<Buffer>): Promise<Buffer> {
    const out: Buffer[] = []
    for await (const chunk of stream) out.push(chunk)
    return Buffer.concat(out)
  }

  it('its size counted before its pieces are made: the UTF-8 bytes of serializeManifest, made again at each call', () => {
    const text = manifestText(manifest, 'in a test')
    const expected = Buffer.from(serializeManifest(manifest, 'in a test'))
    expect(text.size).toBe(expected.length)
    const first = [...text.pieces()]
    expect(first.length).toBeGreaterThan(2)
    expect(Buffer.concat(first).equals(expected)).toBe(true)
    expect(Buffer.concat([...text.pieces()]).equals(expected)).toBe(true)
  })

  it('refuses an invalid manifest before anything is made, naming it', () => {
    const bad = completeManifest(meta, [{path: '../x', size: 1, sha256: 'a'.repeat(64)}])
    expect(() => manifestText(bad, 'in a test')).toThrow(/in a test/)
  })

  it('compressed as it streams: the gzip member and zstd frame of memberBlocks’ bytes', async () => {
    const text = manifestText(manifest, 'in a test')
    const whole = memberBlocks({name: 'bk-manifest.json', content: serializeManifest(manifest), mode: 0o644})
    const plain = await joined(compressStream(memberStream('bk-manifest.json', text.size, text.pieces()), 'none'))
    // the header's mtime is the time of the call: equal but for the seconds of that field and the checksum
    expect(plain.length).toBe(whole.length)
    expect(plain.subarray(512).equals(whole.subarray(512))).toBe(true)
    expect(plain.subarray(0, 124).equals(whole.subarray(0, 124))).toBe(true)
    const gz = await joined(compressStream(memberStream('bk-manifest.json', text.size, text.pieces()), 'gzip'))
    expect(gunzipSync(gz).subarray(512).equals(whole.subarray(512))).toBe(true)
    const zst = await joined(compressStream(memberStream('bk-manifest.json', text.size, text.pieces()), 'zstd'))
    const decoded = execFileSync('zstd', ['-d', '-c', '-q'], {input: zst, maxBuffer: 64 << 20})
    expect(decoded.subarray(512).equals(whole.subarray(512))).toBe(true)
  })

  it('content of another size than its header says fails the stream, whichever way it is compressed', async () => {
    const pieces = [Buffer.from('abc'), Buffer.from('def')]
    for (const compression of ['none', 'gzip', 'zstd'] as const) {
      await expect(joined(compressStream(memberStream('m', 5, pieces), compression))).rejects.toThrow(
        /m: its content came to 6 bytes, its header says 5/,
      )
      await expect(joined(compressStream(memberStream('m', 7, pieces), compression))).rejects.toThrow(
        /m: its content came to 6 bytes, its header says 7/,
      )
    }
  })
})
