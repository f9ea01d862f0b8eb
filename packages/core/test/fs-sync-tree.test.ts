import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {delimiter, join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {atomicDir} from '../src/safety/atomic.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)
const realPath = process.env.PATH
afterEach(() => {
  process.env.PATH = realPath
})

/** A stand-in `sync` first on PATH: records its arguments, fails with an I/O error when `fail` is set. */
function standInSync(fail: boolean): {calls: () => string[][]} {
  const bin = temp()
  const log = join(bin, 'calls')
  writeFileSync(
    join(bin, 'sync'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n${fail ? `case "$*" in *.bk-partial-*) echo 'sync: error syncing: Input/output error' >&2; exit 1;; esac\n` : ''}exit 0\n`,
  )
  chmodSync(join(bin, 'sync'), 0o755)
  process.env.PATH = `${bin}${delimiter}${realPath}`
  return {calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []).map((l) => l.split(' '))}
}

async function build(dest: string) {
  return atomicDir(dest, async (stage) => {
    mkdirSync(join(stage, 'a/b'), {recursive: true})
    writeFileSync(join(stage, 'a/b/blob'), 'data')
  })
}

describe('atomicDir makes the files durable, not only the folder, before the rename', () => {
  it('flushes the stage with one syncfs (sync -f) before it is renamed', async () => {
    const sync = standInSync(false)
    const dest = join(temp(), 'out')
    await build(dest)
    expect(readFileSync(join(dest, 'a/b/blob'), 'utf8')).toBe('data')
    const stageCalls = sync.calls().filter((c) => c.at(-1)?.includes('.out.bk-partial-'))
    expect(stageCalls).toHaveLength(1)
    expect(stageCalls[0]?.slice(0, 2)).toEqual(['-f', '--'])
    // and no other: a probe of whether -f works would be a second syncfs, as costly as the first
    expect(sync.calls()).toHaveLength(1)
  })

  it('a failing flush (disk I/O error) fails the folder: nothing published, no stage left', async () => {
    standInSync(true)
    const parent = temp()
    const dest = join(parent, 'out')
    await expect(build(dest)).rejects.toThrow(/flushing .*\.out\.bk-partial-.* to disk failed: sync: error syncing/)
    expect(readdirSync(parent)).toEqual([])
  })

  it('without a sync that takes -f, every file is fsynced instead', async () => {
    const bin = temp()
    writeFileSync(join(bin, 'sync'), '#!/bin/sh\necho "sync: invalid option -- \'f\'" >&2\nexit 1\n')
    chmodSync(join(bin, 'sync'), 0o755)
    process.env.PATH = `${bin}${delimiter}${realPath}`
    const dest = join(temp(), 'out')
    await build(dest)
    expect(readFileSync(join(dest, 'a/b/blob'), 'utf8')).toBe('data')
  })
})
