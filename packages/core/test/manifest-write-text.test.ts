import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {completeManifest, type ManifestFile, serializeManifest, writeManifestText} from '../src/manifest/index.js'

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
