import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {BkError} from '../src/errors.js'
import {acquireLock, lockPathFor, withLock} from '../src/safety/index.js'
import {deadPid, startChild} from './safety-util.js'

describe('acquireLock', () => {
  it('writes a lock file beside the resource holding pid, host, operation and start time, removed on release', async () => {
    const dir = tempDir()
    const resource = join(dir, 'env')
    const lock = await acquireLock(resource, {operation: 'bk trac hotcopy'})
    expect(lock.path).toBe(join(dir, '.env.bk-lock'))
    const info = JSON.parse(readFileSync(lock.path, 'utf8'))
    expect(info.pid).toBe(process.pid)
    expect(info.host).toBe(hostname())
    expect(info.operation).toBe('bk trac hotcopy')
    expect(Number.isNaN(Date.parse(info.started))).toBe(false)
    await lock.release()
    expect(existsSync(lock.path)).toBe(false)
    expect(readdirSync(dir)).toEqual([]) // no temp files left either
  })

  it('makes a second process fail fast, naming the holder and the lock file', async () => {
    const dir = tempDir()
    const resource = join(dir, 'tracker')
    const holder = startChild(['lock', resource, 'bk roundup backup'])
    await holder.waitFor('locked')
    const error = await acquireLock(resource, {operation: 'bk roundup restore'}).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.code).toBe('ELOCKED')
    expect(error.message).toMatch(
      new RegExp(
        `is locked by pid ${holder.proc.pid} \\(bk roundup backup, since \\d{4}-\\d\\d-\\d\\dT[^)]+\\); wait for it or remove .*\\.tracker\\.bk-lock if that process is gone`,
      ),
    )
    holder.proc.stdin?.end()
    expect((await holder.exited).code).toBe(0)
    expect(existsSync(lockPathFor(resource))).toBe(false)
    const lock = await acquireLock(resource, {operation: 'bk roundup restore'})
    await lock.release()
  })

  it('the lock is removed when its holder is stopped by SIGTERM (exit 143)', async () => {
    const resource = join(tempDir(), 'site')
    const holder = startChild(['lock', resource])
    await holder.waitFor('locked')
    holder.proc.kill('SIGTERM')
    expect((await holder.exited).code).toBe(143)
    expect(existsSync(lockPathFor(resource))).toBe(false)
  })

  it('takes over a stale lock whose process is gone', async () => {
    const resource = join(tempDir(), 'Data.fs')
    const pid = await deadPid()
    const stale = {pid, host: hostname(), operation: 'bk zodb backup', started: '2026-01-01T00:00:00.000Z', token: 'x'}
    writeFileSync(lockPathFor(resource), JSON.stringify(stale))
    const lock = await acquireLock(resource, {operation: 'bk zodb restore'})
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid)
    await lock.release()
    expect(existsSync(lock.path)).toBe(false)
  })

  it('takes over a lock written before a reboot, even if its pid is in use again', async () => {
    const resource = join(tempDir(), 'Data.fs')
    const old = {
      pid: 1,
      host: hostname(),
      operation: 'bk zodb backup',
      started: '2026-01-01T00:00:00Z',
      boot: 'an-older-boot',
      token: 'y',
    }
    writeFileSync(lockPathFor(resource), JSON.stringify(old))
    const lock = await acquireLock(resource, {operation: 'bk zodb restore'})
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid)
    await lock.release()
    // without the boot id, pid 1 is alive: the lock holds
    writeFileSync(lockPathFor(resource), JSON.stringify({...old, boot: undefined}))
    await expect(acquireLock(resource, {operation: 'x'})).rejects.toThrow(/locked by pid 1 \(bk zodb backup/)
  })

  it('does not take over a lock of another host, whose pid it cannot check', async () => {
    const resource = join(tempDir(), 'Data.fs')
    const pid = await deadPid()
    const foreign = {pid, host: 'elsewhere.example', operation: 'bk zodb backup', started: '2026-01-01T00:00:00Z'}
    writeFileSync(lockPathFor(resource), JSON.stringify(foreign))
    await expect(acquireLock(resource, {operation: 'x'})).rejects.toThrow(/locked by pid \d+ on elsewhere\.example/)
  })

  it('refuses (and keeps) an unreadable lock file', async () => {
    const resource = join(tempDir(), 'res')
    writeFileSync(lockPathFor(resource), 'garbage')
    await expect(acquireLock(resource, {operation: 'x'})).rejects.toThrow(/is locked .*remove .*\.res\.bk-lock/)
    expect(readFileSync(lockPathFor(resource), 'utf8')).toBe('garbage')
  })

  it('lets exactly one of several racing processes take over a stale lock', async () => {
    const dir = tempDir()
    const resource = join(dir, 'stack')
    const pid = await deadPid()
    writeFileSync(
      lockPathFor(resource),
      JSON.stringify({pid, host: hostname(), operation: 'old', started: '2026-01-01T00:00:00Z', token: 'stale'}),
    )
    const racers = Array.from({length: 6}, () => startChild(['take', resource]))
    await Promise.all(racers.map((r) => r.waitFor('ready')))
    for (const r of racers) r.proc.stdin?.write('go\n')
    const answers = await Promise.all(racers.map((r) => Promise.race([r.waitFor('got'), r.waitFor('refused')])))
    expect(answers.filter((a) => a === 'got')).toHaveLength(1)
    expect(answers.filter((a) => a === 'refused ELOCKED')).toHaveLength(5)
    const winner = racers[answers.indexOf('got')]
    expect(JSON.parse(readFileSync(lockPathFor(resource), 'utf8')).pid).toBe(winner?.proc.pid)
    for (const r of racers) r.proc.stdin?.end()
    await Promise.all(racers.map((r) => r.exited))
    expect(readdirSync(dir)).toEqual([])
  })

  it('withLock releases the lock when the work throws', async () => {
    const resource = join(tempDir(), 'env')
    await expect(
      withLock(resource, 'bk trac hotcopy', async () => {
        expect(existsSync(lockPathFor(resource))).toBe(true)
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(existsSync(lockPathFor(resource))).toBe(false)
  })

  it('a resource in a folder that does not exist: one line saying so, not the temp file open() failed on', async () => {
    const dir = join(tempDir(), 'missing')
    const resource = join(dir, 'Data.fs')
    const error = await acquireLock(resource, {operation: 'a'}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BkError)
    expect((error as BkError).message).toBe(`cannot lock ${resource}: the folder ${dir} does not exist; check the path`)
    expect((error as BkError).code).toBe('ELOCK')
  })

  it('release never removes a lock that is no longer its own', async () => {
    const resource = join(tempDir(), 'env')
    const lock = await acquireLock(resource, {operation: 'a'})
    const other = {...lock.info, token: 'someone-else'}
    writeFileSync(lock.path, JSON.stringify(other))
    await lock.release()
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).token).toBe('someone-else')
  })
})
