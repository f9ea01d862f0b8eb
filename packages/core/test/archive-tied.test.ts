// spawnTied starts a program through setpriv (where it sets a parent-death signal): the program that runs, and the
// failure when it cannot, must be those of a plain spawn.
import {execFileSync} from 'node:child_process'
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'
import {run} from '../src/archive/native.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

async function outcome(program: string, args: string[]) {
  const started = run(program, args, 'pipe')
  let out = ''
  started.child.stdout?.setEncoding('utf8')
  started.child.stdout?.on('data', (text: string) => {
    out += text
  })
  const failure = await started.exited
  return {failure, out}
}

describe('spawnTied', () => {
  it("a program path that does not exist fails as spawn's ENOENT, not as setpriv's complaint", async () => {
    const {failure} = await outcome(join(temp(), 'no-such-dir', 'zstd'), ['--version'])
    expect(failure).toMatchObject({code: 'ENOENT'})
    expect(failure?.message).not.toMatch(/setpriv/)
  })

  it("a program path that is not executable fails as spawn's EACCES, not as setpriv's complaint", async () => {
    const file = join(temp(), 'zstd')
    writeFileSync(file, '#!/bin/sh\nexit 0\n')
    chmodSync(file, 0o644)
    const {failure} = await outcome(file, ['--version'])
    expect(failure).toMatchObject({code: 'EACCES'})
    expect(failure?.message).not.toMatch(/setpriv/)
  })

  it('a folder named like the program, earlier on PATH, is passed over as a plain spawn does', async () => {
    const bin = temp()
    mkdirSync(join(bin, 'zstd'))
    const saved = process.env.PATH
    process.env.PATH = `${bin}:${saved}`
    try {
      const {failure, out} = await outcome('zstd', ['--version'])
      expect(failure).toBeUndefined()
      expect(out).toMatch(/Zstandard/)
    } finally {
      process.env.PATH = saved
    }
  })

  it('a program that cannot be started (no file descriptor left) is named in the error, not setpriv', () => {
    // in a process of its own (the built module) whose descriptors run out once the first program has started
    const native = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'archive', 'native.js')
    const script = `
      import {openSync} from 'node:fs'
      import {run} from ${JSON.stringify(native)}
      if (await run('zstd', ['--version'], 'pipe').exited) throw new Error('zstd did not start')
      try { for (;;) openSync('/dev/null', 'r') } catch {}
      const failure = await run('zstd', ['--version'], 'pipe').exited
      process.stdout.write(JSON.stringify({message: failure?.message, path: failure?.path}))`
    const out = execFileSync(
      'sh',
      ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, script],
      {
        encoding: 'utf8',
      },
    )
    expect(JSON.parse(out)).toEqual({message: 'spawn zstd EMFILE', path: 'zstd'})
  })
})
