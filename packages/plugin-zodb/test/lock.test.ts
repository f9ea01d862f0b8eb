// Data.fs.lock: zc.lockfile holds it with flock(LOCK_EX|LOCK_NB). These tests take it with util-linux flock(1),
// which uses the same system call.
import {spawnSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {holdStorageLock} from '../src/storage-lock.js'

const lockedByOther = (file: string) => spawnSync('flock', ['-n', '-E', '75', file, 'true']).status === 75

describe('Data.fs.lock', () => {
  const path = process.env.PATH
  afterEach(() => {
    process.env.PATH = path
  })

  it('is taken and held for the whole restore when free, so Zope cannot start meanwhile', async () => {
    const dir = tempDir()
    const datafs = join(dir, 'Data.fs')
    writeFileSync(`${datafs}.lock`, ' 1\n')
    const lock = await holdStorageLock(datafs)
    expect(lock.method).toBe('flock')
    expect(lockedByOther(`${datafs}.lock`)).toBe(true)
    await lock.release()
    expect(lockedByOther(`${datafs}.lock`)).toBe(false)
  })

  it('needs nothing when there is no lock file, and creates none', async () => {
    const dir = tempDir()
    const lock = await holdStorageLock(join(dir, 'Data.fs'))
    expect(lock.method).toBe('absent')
    expect(spawnSync('ls', [dir]).stdout.toString()).toBe('')
  })

  it('without flock(1), falls back to the pid written in the file', async () => {
    const dir = tempDir()
    const datafs = join(dir, 'Data.fs')
    process.env.PATH = dir // no flock here
    writeFileSync(`${datafs}.lock`, ` ${process.pid}\n`)
    await expect(holdStorageLock(datafs)).rejects.toThrow(new RegExp(`held by pid ${process.pid}`))
    const dead = spawnSync('/bin/true').pid!
    writeFileSync(`${datafs}.lock`, ` ${dead}\n`)
    expect((await holdStorageLock(datafs)).method).toBe('pid')
  })
})
