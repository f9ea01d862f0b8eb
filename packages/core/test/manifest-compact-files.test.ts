import {mkdtempSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'
import {describe, expect, it} from 'vitest'
import {manifestForArchive} from '../src/manifest/build.js'
import {
  CompactFiles,
  compactFilesOf,
  manifestFileCount,
  manifestFiles,
  withCompactFiles,
} from '../src/manifest/compact-files.js'
import {completeManifest, type ManifestFile, serializeManifest} from '../src/manifest/index.js'
import {manifestText} from '../src/manifest/io.js'

const meta = {
  plugin: {name: '@bkcli/plugin-roundup', version: '1.0.0'},
  application: 'roundup',
  kind: 'full',
  source: '/srv/roundup/t',
  components: [{type: 'files' as const, path: 'home', count: 1, bytes: 2}],
  created: '2026-01-01T00:00:00.000Z',
}

/** Paths of every kind a tree holds: plain, long, JSON-escaped, non-ASCII, a surrogate pair, a lone surrogate. */
function entries(count: number): ManifestFile[] {
  return Array.from({length: count}, (_, i) => {
    const kinds = [
      `db/files/msg/${i >> 10}/msg${i}`,
      `${'deep/'.repeat(60)}f${i}`,
      `we"ird\\t\t-é-${i}`,
      `emoji-\u{1f600}-${i}`,
      `lone-\ud800-${i}`,
    ]
    return {
      path: kinds[i % kinds.length] as string,
      size: i * 7,
      sha256: (i * 2654435761).toString(16).padStart(64, '0'),
    }
  })
}

function compactOf(files: ManifestFile[]): CompactFiles {
  const list = new CompactFiles()
  for (const f of files) list.add(f.path, f.size, f.sha256)
  return list
}

/**
 * ArrayBuffer memory once garbage is collected and its backing stores freed: V8 frees them on a background sweeper,
 * so a count read right after gc() may still hold an earlier test's buffers, freed later (a CI run saw 0.5 MB less
 * "held" than listed for that).
 */
async function settledArrayBuffers(): Promise<number> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  let last = Number.NaN
  for (let round = 0; round < 5; round++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
    const now = process.memoryUsage().arrayBuffers
    if (now === last) break
    last = now
  }
  return last
}

describe('CompactFiles', () => {
  it('gives back every entry as it was added, past its buffers’ first sizes and across its blocks', () => {
    const files = entries(9000)
    // digests it cannot keep as 32 bytes come back as given too
    files.push({path: 'upper', size: 1, sha256: 'A'.repeat(64)}, {path: 'short', size: 2, sha256: 'abc'})
    const list = compactOf(files)
    expect(list.length).toBe(files.length)
    expect([...list]).toEqual(files)
    expect([...list.slices(512)].flat()).toEqual(files)
    expect(list.at(4)).toEqual(files[4])
    // the first entries of the second and third blocks, and the last of the first (its text cut to size)
    for (const i of [4095, 4096, 8192]) expect(list.at(i)).toEqual(files[i])
  })

  it('holds about what it lists: no array grown by doubling (at 270 000 files: 1.8 times as much)', async () => {
    const before = await settledArrayBuffers()
    const list = new CompactFiles()
    let pathBytes = 0
    for (let i = 0; i < 270_000; i++) {
      const path = `db/files/msg/${i >> 10}/msg${i}`
      pathBytes += path.length
      list.add(path, i, (i * 2654435761).toString(16).padStart(64, '0'))
    }
    const held = (await settledArrayBuffers()) - before
    // a digest's 32 bytes, a size's 8 and a path's end 4, and the path itself
    const exact = 270_000 * (32 + 8 + 4) + pathBytes
    expect(held).toBeGreaterThan(exact * 0.9)
    expect(held).toBeLessThan(exact * 1.15)
    expect(list.at(269_999).path).toBe(`db/files/msg/${269_999 >> 10}/msg269999`)
  })

  it('links a file added blocks earlier, and keeps adding past the link', () => {
    const files = entries(5000)
    const list = compactOf(files)
    expect(list.link('linked', files[7]?.path as string)).toBe(true)
    list.add('after', 9, 'e'.repeat(64))
    expect(list.at(5000)).toEqual({path: 'linked', size: files[7]?.size, sha256: files[7]?.sha256})
    expect(list.at(5001)).toEqual({path: 'after', size: 9, sha256: 'e'.repeat(64)})
  })

  it('links to an entry kept aside (a lone surrogate) by its own path, not the one UTF-8 gives back', () => {
    const list = new CompactFiles()
    // both would come back from UTF-8 as 'lone-\ufffd'
    list.add('lone-\ud800', 3, 'a'.repeat(64))
    list.add('lone-\udfff', 4, 'b'.repeat(64))
    list.add('plain', 5, 'c'.repeat(64))
    expect(list.link('to-first', 'lone-\ud800')).toBe(true)
    expect(list.link('to-second', 'lone-\udfff')).toBe(true)
    expect(list.link('to-neither', 'lone-\ufffd')).toBe(false)
    expect([...list].slice(3)).toEqual([
      {path: 'to-first', size: 3, sha256: 'a'.repeat(64)},
      {path: 'to-second', size: 4, sha256: 'b'.repeat(64)},
    ])
  })

  it('adds a hard link with its target’s size and digest, and nothing for an unknown target', () => {
    const list = compactOf(entries(3))
    const target = list.at(1)
    expect(list.link('linked', 'nowhere')).toBe(false)
    expect(list.length).toBe(3)
    expect(list.link('linked', target.path)).toBe(true)
    expect(list.at(3)).toEqual({path: 'linked', size: target.size, sha256: target.sha256})
    // a file added after the index was made is found too
    list.add('later', 5, 'f'.repeat(64))
    expect(list.link('linked2', 'later')).toBe(true)
    expect(list.at(5)).toEqual({path: 'linked2', size: 5, sha256: 'f'.repeat(64)})
  })
})

describe('CompactFiles given a folder to spill to', () => {
  it('gives back every entry, links included, from blocks written to an unnamed file there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-spill-'))
    const files = entries(20_000)
    files.push({path: 'upper', size: 1, sha256: 'A'.repeat(64)})
    const list = new CompactFiles({spillDir: dir, memoryBlocks: 1})
    for (const f of files) list.add(f.path, f.size, f.sha256)
    expect(list.spilled).toBe(true)
    expect(readdirSync(dir)).toEqual([]) // nothing named is left, whatever ends the process
    const expected = [...files]
    // links to entries in memory, spilled, kept aside (a lone surrogate), the block being filled, a duplicate path
    for (const i of [0, 4095, 4096, 12_345, 19_999, 9]) {
      const target = files[i] as ManifestFile
      expect(list.link(`link-to-${i}`, target.path)).toBe(true)
      expected.push({...target, path: `link-to-${i}`})
    }
    list.add(files[12_345]?.path as string, 77, '7'.repeat(64))
    expected.push({path: files[12_345]?.path as string, size: 77, sha256: '7'.repeat(64)})
    expect(list.link('to-the-later-duplicate', files[12_345]?.path as string)).toBe(true)
    expected.push({path: 'to-the-later-duplicate', size: 77, sha256: '7'.repeat(64)})
    expect(list.link('to-nothing', 'not/there')).toBe(false)
    expect(list.length).toBe(expected.length)
    expect([...list]).toEqual(expected)
    expect([...list.slices(1000)].flat()).toEqual(expected)
    for (const i of [20_000, 4096, 17, 8191, 8192, 19_999, 5000]) expect(list.at(i)).toEqual(expected[i])
  })

  it('holds what its memory blocks hold, however many files; a hard link adds an index, not every path again', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const dir = mkdtempSync(join(tmpdir(), 'bk-spill-'))
    gc()
    const heap = () => process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed
    const before = heap()
    const list = new CompactFiles({spillDir: dir, memoryBlocks: 4})
    let pathBytes = 0
    for (let i = 0; i < 270_000; i++) {
      const path = `db/files/msg/${i >> 10}/msg${i}`
      pathBytes += path.length
      list.add(path, i, (i * 2654435761).toString(16).padStart(64, '0'))
    }
    expect(list.link('linked', 'db/files/msg/0/msg5')).toBe(true)
    gc()
    const held = heap() - before
    // in memory before: every entry (a digest's 32 bytes, a size's 8, a path's end 4 and the path), and at the
    // first link a Map of every path on the heap
    const all = 270_000 * (32 + 8 + 4) + pathBytes
    expect(held).toBeLessThan(all) // 2.4 times as much before; ~6 MB and the heap's noise now
    expect(list.at(270_000)).toEqual({path: 'linked', size: 5, sha256: (5 * 2654435761).toString(16).padStart(64, '0')})
  })

  it('a folder it cannot write to fails as one line naming it', () => {
    const list = new CompactFiles({spillDir: '/nonexistent/bk-spill', memoryBlocks: 0})
    for (let i = 0; i < 4096; i++) list.add(`f${i}`, i, 'a'.repeat(64))
    expect(() => list.add('one more', 1, 'a'.repeat(64))).toThrow(
      /^cannot keep the list of files in \/nonexistent\/bk-spill: .*ENOENT.*; free some space there$/,
    )
  })
})

describe('a manifest with compact files', () => {
  it('reads as a plain manifest; its array is made only when `files` is read', () => {
    const files = entries(700)
    const manifest = withCompactFiles(completeManifest(meta, []), compactOf(files))
    expect(manifestFileCount(manifest)).toBe(700)
    expect([...manifestFiles(manifest)]).toEqual(files)
    expect(compactFilesOf(manifest)).toBeDefined()
    expect(manifest.files).toEqual(files)
    expect(compactFilesOf(manifest)).toBeUndefined()
    // from then on the array is the truth, as on any manifest
    manifest.files.push({path: 'added', size: 0, sha256: '0'.repeat(64)})
    expect(manifestFileCount(manifest)).toBe(701)
    expect(JSON.parse(JSON.stringify(manifest)).files).toHaveLength(701)
  })

  it.each([0, 3, 640, 642, 1500])(
    'its text is serializeManifest’s, bytes for bytes, for %i files, no array made',
    (n) => {
      const files = entries(n).filter((f) => !f.path.startsWith('lone-'))
      const manifest = withCompactFiles(completeManifest(meta, []), compactOf(files))
      const text = manifestText(manifest, 'in a test')
      const joined = Buffer.concat([...text.pieces()])
      if (files.length > 512) expect(compactFilesOf(manifest)).toBeDefined()
      const expected = Buffer.from(serializeManifest(completeManifest(meta, files), 'in a test'))
      expect(text.size).toBe(expected.length)
      expect(joined.equals(expected)).toBe(true)
    },
  )

  it('a bad entry deep in the list is named by its place in the whole list', () => {
    const files = entries(1500).filter((f) => !f.path.startsWith('lone-'))
    ;(files[1100] as ManifestFile).path = '../escape'
    const manifest = withCompactFiles(completeManifest(meta, []), compactOf(files))
    expect(() => manifestText(manifest, 'in a test')).toThrow(/invalid manifest in a test: field 'files\[1100\]\.path'/)
  })
})

describe('the members of an archive whose list of files cannot spill', () => {
  it('take every member without throwing (a decode thread hands them over: a throw there killed bk); finish() fails', async () => {
    const collector = manifestForArchive(completeManifest({} as never, []), {spillDir: '/nonexistent/bk-spill'})
    const handOver = () => {
      for (let i = 0; i < 17 * 4096 + 1; i++) collector.members.file(`f${i}`, i, 'a'.repeat(64))
      collector.members.link('l', 'f1')
    }
    expect(handOver).not.toThrow()
    collector.members.read(undefined)
    await expect(collector.finish()).rejects.toThrow(
      /^cannot keep the list of files in \/nonexistent\/bk-spill: .*ENOENT/,
    )
    expect(() => collector.write(Buffer.alloc(512))).toThrow(/cannot keep the list of files/)
  })
})
