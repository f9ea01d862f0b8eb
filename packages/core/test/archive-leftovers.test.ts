// A killed run's partial archive file left for good when the next run has its pid (bk as a container's main
// process always has the same): the run removes its own name's leftovers first.
import {execFileSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive} from '../src/archive/index.js'
import {createBkArchive} from '../src/manifest/bk-archive.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'

afterAll(cleanupTemp)
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
})

function source(): string {
  const dir = temp()
  mkdirSync(join(dir, 'data', 'sub'), {recursive: true})
  writeFileSync(join(dir, 'data', 'a.txt'), 'first file\n')
  writeFileSync(join(dir, 'data', 'sub', 'b.bin'), Buffer.alloc(70_000, 7))
  return dir
}

/** The names and contents of a .tar.gz, from GNU tar itself. */
function listed(file: string): string[] {
  return execFileSync('tar', ['-tzf', file]).toString().trim().split('\n').sort()
}

describe("a killed run's partial file", () => {
  it("is swept when the next run has the killed run's pid (createArchive)", async () => {
    const src = source()
    const out = temp()
    // what a run killed (kill -9) while it wrote the archive left beside it, under this process's pid
    const left = join(out, `.a.tar.gz.bk-partial-${process.pid}-Zx81Qa`)
    writeFileSync(left, Buffer.alloc(50_000, 1))
    await createArchive({cwd: src, file: join(out, 'a.tar.gz')})
    expect(readdirSync(out).sort()).toEqual(['a.tar.gz'])
    expect(listed(join(out, 'a.tar.gz'))).toContain('data/sub/b.bin')
  })

  it('is swept when it was left by a process that is gone, and the partial of another name is kept', async () => {
    const src = source()
    const out = temp()
    // a pid that no process has (the kernel's pid_max is far below it)
    writeFileSync(join(out, '.a.tar.gz.bk-partial-99999999-AbCdEf'), 'dead')
    writeFileSync(join(out, `.other.tar.gz.bk-partial-${process.pid}-AbCdEf`), 'not this archive')
    await createArchive({cwd: src, file: join(out, 'a.tar.gz')})
    expect(readdirSync(out).sort()).toEqual([`.other.tar.gz.bk-partial-${process.pid}-AbCdEf`, 'a.tar.gz'])
  })

  it('is swept by an archive with its manifest too (createBkArchive)', async () => {
    const src = source()
    const out = temp()
    writeFileSync(join(out, `.m.tar.gz.bk-partial-${process.pid}-Qq11Ww`), Buffer.alloc(10_000, 2))
    await createBkArchive({cwd: src, file: join(out, 'm.tar.gz'), meta: testMeta})
    expect(readdirSync(out).sort()).toEqual(['m.tar.gz'])
  })

  it('does not touch the partial of a run of this process that is still writing', async () => {
    const src = source()
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
