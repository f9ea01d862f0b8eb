// Data.fs.lock: zc.lockfile holds it with flock(LOCK_EX|LOCK_NB). These tests take it with util-linux flock(1),
// which uses the same system call.
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {checkStorageLock, holdStorageLock, lockHolders} from '../src/storage-lock.js'

const lockedByOther = (file: string) => spawnSync('flock', ['-n', '-E', '75', file, 'true']).status === 75

/** A process holding the flock, as Zope would (its own process group, so the sleeping child goes too). */
async function holder(file: string): Promise<ChildProcess> {
  const child = spawn('flock', [file, 'sleep', '60'], {stdio: 'ignore', detached: true})
  for (let i = 0; i < 100 && !lockedByOther(file); i++) await new Promise((r) => setTimeout(r, 20))
  return child
}

describe('Data.fs.lock', () => {
  const path = process.env.PATH
  const children: ChildProcess[] = []
  afterEach(() => {
    process.env.PATH = path
    for (const c of children.splice(0)) process.kill(-c.pid!, 'SIGTERM')
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

  it('names the real holder of the flock, not the pid written in the file (a container Zope writes 1)', async () => {
    const dir = tempDir()
    const datafs = join(dir, 'Data.fs')
    writeFileSync(`${datafs}.lock`, ' 1\n')
    const zope = await holder(`${datafs}.lock`)
    children.push(zope)
    expect(await lockHolders(`${datafs}.lock`)).toEqual([zope.pid])
    const refusal = new RegExp(`Data\\.fs\\.lock is held by pid ${zope.pid} \\(flock\\)`)
    await expect(holdStorageLock(datafs)).rejects.toThrow(refusal)
    // the plan's read-only check gives the same refusal
    await expect(checkStorageLock(datafs)).rejects.toThrow(refusal)
    await expect(holdStorageLock(datafs)).rejects.not.toThrow(/pid 1\b/)
  })

  it('without flock(1), reads the holder from /proc/locks', async () => {
    const dir = tempDir()
    const datafs = join(dir, 'Data.fs')
    writeFileSync(`${datafs}.lock`, ` ${process.pid}\n`)
    const zope = await holder(`${datafs}.lock`)
    children.push(zope)
    process.env.PATH = dir // no flock here
    await expect(holdStorageLock(datafs)).rejects.toThrow(new RegExp(`held by pid ${zope.pid}`))
    process.kill(-zope.pid!, 'SIGTERM')
    children.pop()
    await new Promise((r) => zope.once('exit', r))
    // flock(1) may exit before its `sleep`, which inherited the locked descriptor: wait until the lock is free
    process.env.PATH = path
    for (let i = 0; i < 250 && lockedByOther(`${datafs}.lock`); i++) await new Promise((r) => setTimeout(r, 20))
    process.env.PATH = dir
    expect((await holdStorageLock(datafs)).method).toBe('proc')
  })
})
