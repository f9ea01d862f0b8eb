import {chmodSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it, vi} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {run} from '../src/archive/native.js'
import {seccomp, tiedReady} from '../src/archive/tied.js'
import {cleanupTemp, gnuTarNames, smallTree, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)
const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
  vi.restoreAllMocks()
})

/** A stand-in setpriv that fails as util-linux's does where seccomp refuses prctl(PR_SET_PDEATHSIG). */
function refusingSetpriv(): string {
  const bin = temp('bk-bin-')
  // names the option in its own file, like the real one (that is how bk tells a setpriv that has it)
  writeFileSync(
    join(bin, 'setpriv'),
    '#!/bin/sh\n# --pdeathsig\necho "setpriv: set parent death signal failed: Operation not permitted" >&2\nexit 127\n',
  )
  chmodSync(join(bin, 'setpriv'), 0o755)
  return bin
}

describe('a setpriv that cannot set the parent-death signal', () => {
  it('programs start plainly instead, and an archive is made and read back', async () => {
    // only a seccomp filter refuses the signal: this process stands in for a filtered one
    vi.spyOn(seccomp, 'filtered').mockReturnValue(true)
    process.env.PATH = `${refusingSetpriv()}:${savedPath}`
    const started = run('zstd', ['--version'], 'pipe')
    let out = ''
    started.child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    expect(await started.exited).toBeUndefined()
    expect(out).toMatch(/Zstandard/)
    const src = smallTree()
    const dir = temp()
    await createArchive({cwd: src, file: join(dir, 'a.tar.zst')})
    await createArchive({cwd: src, file: join(dir, 'a.tar.gz')})
    await extractArchive({file: join(dir, 'a.tar.zst'), target: join(dir, 'x')})
    expect(snapshot(join(dir, 'x'), {owners: false})).toEqual(snapshot(src, {owners: false}))
    expect(gnuTarNames(join(dir, 'a.tar.gz'))).toContain('data/a.txt')
  })
})

/** A stand-in setpriv that logs its arguments and runs the program after `--`, as util-linux's does. */
function loggingSetpriv(): {bin: string; log: string} {
  const bin = temp('bk-bin-')
  const log = join(bin, 'calls.log')
  writeFileSync(
    join(bin, 'setpriv'),
    [
      '#!/bin/sh',
      '# --pdeathsig',
      `echo "$*" >> '${log}'`,
      'case "$1" in --version) echo "setpriv stand-in"; exit 0;; esac',
      'while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done',
      'shift',
      'exec "$@"',
      '',
    ].join('\n'),
  )
  chmodSync(join(bin, 'setpriv'), 0o755)
  writeFileSync(log, '')
  return {bin, log}
}

describe('where no seccomp filter applies', () => {
  it('setpriv is not asked first (its spawn costs the run); the archive programs run through it', async () => {
    vi.spyOn(seccomp, 'filtered').mockReturnValue(false)
    const {bin, log} = loggingSetpriv()
    process.env.PATH = `${bin}:${savedPath}`
    const src = smallTree()
    const dir = temp()
    await createArchive({cwd: src, file: join(dir, 'a.tar.zst')})
    await extractArchive({file: join(dir, 'a.tar.zst'), target: join(dir, 'x')})
    expect(snapshot(join(dir, 'x'), {owners: false})).toEqual(snapshot(src, {owners: false}))
    const calls = readFileSync(log, 'utf8').trim().split('\n')
    expect(calls.some((c) => /\bzstd\b/.test(c))).toBe(true)
    expect(calls.filter((c) => c.endsWith('--version'))).toEqual([])
  })
})

describe('where a seccomp filter applies', () => {
  it('setpriv is asked once, ahead of the first spawn (tiedReady), and the archive programs run through it', async () => {
    vi.spyOn(seccomp, 'filtered').mockReturnValue(true)
    const {bin, log} = loggingSetpriv()
    process.env.PATH = `${bin}:${savedPath}`
    await tiedReady()
    const probes = () =>
      readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .filter((c) => c.startsWith('--pdeathsig') && c.endsWith('--version'))
    // the answer is in before any archive program starts: spawnTied need not ask it again (a spawnSync)
    expect(probes()).toEqual([`--pdeathsig KILL -- ${join(bin, 'setpriv')} --version`])
    const src = smallTree()
    const dir = temp()
    await createArchive({cwd: src, file: join(dir, 'a.tar.zst')})
    await extractArchive({file: join(dir, 'a.tar.zst'), target: join(dir, 'x')})
    expect(snapshot(join(dir, 'x'), {owners: false})).toEqual(snapshot(src, {owners: false}))
    expect(readFileSync(log, 'utf8').includes('zstd')).toBe(true)
    expect(probes()).toHaveLength(1)
  })
})
