// An empty tree archives to the end-of-archive blocks alone: creating it (with or without a manifest), listing,
// checking and extracting it must all work, with every engine; a stream of zeros too short to hold them, or
// garbage, is still refused.
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {checkArchive, createArchive, extractArchive} from '../src/archive/index.js'
import {createArchiveWithManifest, createBkArchive} from '../src/manifest/bk-archive.js'
import {cleanupTemp, listed, temp, testMeta} from './archive-helpers.js'

const meta = testMeta

afterAll(cleanupTemp)
afterEach(() => {
  delete process.env.BK_ARCHIVE_ENGINE
})

describe('an empty tree', () => {
  for (const engine of ['system', 'node'] as const) {
    for (const ext of ['tar', 'tar.gz', 'tar.zst']) {
      if (engine === 'node' && ext === 'tar.zst') continue
      it(`${ext} (${engine} engines): created with its manifest, listed, checked and extracted`, async () => {
        if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
        const dir = temp()
        const src = join(dir, 'src')
        mkdirSync(src)
        const withManifest = join(dir, `m.${ext}`)
        const result = await createArchiveWithManifest({cwd: src, file: withManifest, meta})
        expect(result.manifest.files).toEqual([])
        expect(await listed(withManifest)).toEqual([])

        const plain = join(dir, `p.${ext}`)
        await createArchive({cwd: src, file: plain})
        expect(await listed(plain)).toEqual([])
        const checked = await checkArchive(plain)
        expect(checked.entries).toBe(0)
        expect(checked.unsafe).toEqual([])
        const target = join(dir, 'out')
        expect(await extractArchive({file: plain, target})).toEqual({entries: 0, bytes: 0})
        expect(readdirSync(target)).toEqual([])

        const bk = join(dir, `b.${ext}`)
        const made = await createBkArchive({cwd: src, file: bk, meta})
        expect(made.manifest.files).toEqual([])
        expect(await listed(bk)).toEqual(['bk-manifest.json'])
      })
    }
  }

  it('a tar of zeros shorter than the end-of-archive blocks, or of garbage, is still refused', async () => {
    const dir = temp()
    const short = join(dir, 'short.tar')
    writeFileSync(short, Buffer.alloc(512))
    await expect(listed(short)).rejects.toThrow()
    const garbage = join(dir, 'garbage.tar')
    writeFileSync(garbage, Buffer.alloc(2048, 'not a tar '))
    await expect(listed(garbage)).rejects.toThrow()
  })
})
