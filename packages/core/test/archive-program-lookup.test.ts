// A folder named like a program (pigz, tar, zstd) earlier on PATH: only an executable regular file is a program.
import {execFileSync} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {zstdAvailable} from '../src/archive/compression.js'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {findProgram, gnuTar, pigz} from '../src/archive/native.js'
import {cleanupTemp, gnuTarNames, smallTree, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
})

const which = (name: string) =>
  execFileSync('sh', ['-c', `command -v ${name}`])
    .toString()
    .trim()

describe('a folder named like a program, earlier on PATH', () => {
  it('is passed over: the program found is the executable file further on', async () => {
    const bin = temp('bk-bin-')
    for (const name of ['tar', 'pigz', 'zstd']) mkdirSync(join(bin, name))
    process.env.PATH = `${bin}:${savedPath}`
    expect(await findProgram('pigz')).toBe(which('pigz'))
    expect(await findProgram('zstd')).toBe(which('zstd'))
    expect(await findProgram('tar')).toBe(which('tar'))
    expect(await gnuTar()).toBe(which('tar'))
    expect(await pigz()).toBe(which('pigz'))
    const src = smallTree()
    const dir = temp()
    await createArchive({cwd: src, file: join(dir, 'a.tar.gz')})
    expect(gnuTarNames(join(dir, 'a.tar.gz'))).toContain('data/sub/b.bin')
    await extractArchive({file: join(dir, 'a.tar.gz'), target: join(dir, 'x')})
    expect(snapshot(join(dir, 'x'), {owners: false})).toEqual(snapshot(src, {owners: false}))
  })

  it('counts as no program at all when it is the only one of that name', async () => {
    const bin = temp('bk-bin-')
    mkdirSync(join(bin, 'zstd'))
    mkdirSync(join(bin, 'pigz'))
    process.env.PATH = bin
    expect(await findProgram('zstd')).toBeUndefined()
    expect(await findProgram('pigz')).toBeUndefined()
  })

  it('is no zstd for zstdAvailable', async () => {
    const bin = temp('bk-bin-')
    mkdirSync(join(bin, 'zstd'))
    process.env.PATH = bin
    expect(await zstdAvailable()).toBe(false)
  })
})
