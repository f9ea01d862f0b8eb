import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {compressBuffer} from '../src/archive/compression.js'
import {memberBlocks, memberPieces} from '../src/archive/create.js'
import {completeManifest, type ManifestFile, serializeManifest, writeManifestText} from '../src/manifest/index.js'
import {manifestTextChunks} from '../src/manifest/io.js'

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
  it.each([0, 3, 2048, 2049, 5000])('writes the bytes serializeManifest gives, for %i files', async (count) => {
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
  })

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
