import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {lstat, mkdir, opendir, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {systemErrorMessage} from '../src/command/system-error.js'

/** The error a real call raises (these are what Node gives a command that did not expect them). */
async function raised(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  throw new Error('the call did not fail')
}

describe('systemErrorMessage', () => {
  it('names the file a path runs through (ENOTDIR), as the errno code', async () => {
    const dir = tempDir()
    const file = join(dir, 'file')
    await writeFile(file, 'x')
    const under = join(file, 'x', 'backup.tar.gz')
    expect(systemErrorMessage(await raised(() => lstat(under)))).toEqual({
      code: 'ENOTDIR',
      message: `${under}: ${file} is a file, not a folder; give a path under a folder`,
    })
    expect(systemErrorMessage(await raised(() => opendir(file)))).toEqual({
      code: 'ENOTDIR',
      message: `${file} is a file, not a folder; give a folder`,
    })
  })

  it('says what is missing, and what a rename was moving it to', async () => {
    const dir = tempDir()
    const gone = join(dir, 'gone')
    expect(systemErrorMessage(await raised(() => rename(gone, join(dir, 'there'))))?.message).toBe(
      `${gone} does not exist (moving it to ${join(dir, 'there')}); check the path`,
    )
  })

  it('names an existing target (EEXIST) and a program that is not installed', async () => {
    const dir = tempDir()
    await mkdir(join(dir, 'a'))
    expect(systemErrorMessage(await raised(() => mkdir(join(dir, 'a'))))).toEqual({
      code: 'EEXIST',
      message: `${join(dir, 'a')} already exists; move it aside or give another path`,
    })
    const spawned = await raised(() => once(spawn('bk-no-such-program-here'), 'exit'))
    expect(systemErrorMessage(spawned)?.message).toBe(
      'the program bk-no-such-program-here was not found; install it or put it on PATH',
    )
  })

  it('words a full disk with or without a path, and leaves errors that are not the system’s alone', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC', syscall: 'write'})
    expect(systemErrorMessage(full)).toEqual({
      code: 'ENOSPC',
      message: 'no space left on the device; free some space and run it again',
    })
    const denied = Object.assign(new Error('EACCES'), {code: 'EACCES', syscall: 'open', path: '/srv/x'})
    expect(systemErrorMessage(denied)?.message).toBe(
      'permission denied: /srv/x (open); run bk as a user allowed to use it, or change its permissions',
    )
    expect(systemErrorMessage(new Error('undefined is not a function'))).toBeUndefined()
    expect(systemErrorMessage(Object.assign(new Error('x'), {code: 'ERR_INVALID_ARG_TYPE'}))).toBeUndefined()
    // an errno this mapper does not know keeps Node's own message (and the --verbose hint)
    expect(systemErrorMessage(Object.assign(new Error('x'), {code: 'EBUSY', syscall: 'rmdir', path: '/x'}))).toBe(
      undefined,
    )
  })
})
