import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive} from '../src/archive/index.js'
import {createBkArchive} from '../src/manifest/bk-archive.js'
import {cleanupTemp, gnuTarNames, smallTree, temp, testMeta} from './archive-helpers.js'

afterAll(cleanupTemp)
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
})

describe("a killed run's partial file", () => {
  it("is swept when the next run has the killed run's pid (createArchive)", async () => {
    const src = smallTree()
    const out = temp()
    // what a run killed (kill -9) while it wrote the archive left beside it, under this process's pid
    const left = join(out, `.a.tar.gz.bk-partial-${process.pid}-Zx81Qa`)
    writeFileSync(left, Buffer.alloc(50_000, 1))
    await createArchive({cwd: src, file: join(out, 'a.tar.gz')})
    expect(readdirSync(out).sort()).toEqual(['a.tar.gz'])
    expect(gnuTarNames(join(out, 'a.tar.gz'))).toContain('data/sub/b.bin')
  })

  it('is swept when it was left by a process that is gone, and the partial of another name is kept', async () => {
    const src = smallTree()
    const out = temp()
    // a pid that no process has (the kernel's pid_max is far below it)
    writeFileSync(join(out, '.a.tar.gz.bk-partial-99999999-AbCdEf'), 'dead')
    writeFileSync(join(out, `.other.tar.gz.bk-partial-${process.pid}-AbCdEf`), 'not this archive')
    await createArchive({cwd: src, file: join(out, 'a.tar.gz')})
    expect(readdirSync(out).sort()).toEqual([`.other.tar.gz.bk-partial-${process.pid}-AbCdEf`, 'a.tar.gz'])
  })

  it('is swept by an archive with its manifest too (createBkArchive)', async () => {
    const src = smallTree()
    const out = temp()
    writeFileSync(join(out, `.m.tar.gz.bk-partial-${process.pid}-Qq11Ww`), Buffer.alloc(10_000, 2))
    await createBkArchive({cwd: src, file: join(out, 'm.tar.gz'), meta: testMeta})
    expect(readdirSync(out).sort()).toEqual(['m.tar.gz'])
  })

  it('does not touch the partial of a run of this process that is still writing', async () => {
    const src = smallTree()
    const out = temp()
    const file = join(out, 'a.tar.gz')
    // two writes of the same archive in this process at once: each keeps its own temp file until its rename
    const [one, two] = await Promise.allSettled([
      createArchive({cwd: src, file, overwrite: true}),
      createArchive({cwd: src, file, overwrite: true}),
    ])
    expect(one.status).toBe('fulfilled')
    expect(two.status).toBe('fulfilled')
    expect(readdirSync(out)).toEqual(['a.tar.gz'])
    expect(gunzipSync(readFileSync(file)).length).toBeGreaterThan(70_000)
  })
})
