// Crash-safety by proof (issue 11): `bk iotstack restore` and `backup` killed with SIGKILL at every rename
// (BK_CRASH_AT, core's crash points), interrupted by SIGINT/SIGTERM, and run twice at once. The stack is the old
// one or — once the next bk run has finished the commit its journal describes, and said so — the new one, never a
// mix; the replaced files are kept; nothing is left behind. Where the stack runs, `docker` is the stand-in in test/bin
// (no Docker here): a backup brings the stack down for its copy, and up again on a signal or at the next run.
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {beforeAll, describe, expect, it} from 'vitest'
import {makeExampleStack} from '../src/example.js'
import {fakeDocker} from './fake-docker.js'
import {treeOf, weekday} from './tree.js'

const LEFTOVER = /\.bk-(extract|stage|partial|restore)-|\.bk-prev-|\.bk-commit\.json/

async function newStack(volumeBytes = 32 * 1024): Promise<string> {
  const dir = join(tempDir('bk-iot-crash-'), 'IOTstack')
  await makeExampleStack(dir, {volumeBytes})
  return dir
}

function copyStack(from: string): string {
  const dir = join(tempDir('bk-iot-crash-'), 'IOTstack')
  execFileSync('cp', ['-a', from, dir])
  return dir
}

/** A member's text from a tar.gz, whether the archive names it `./x` or `x`. */
function member(file: string, path: string): string {
  const names = execFileSync('tar', ['-tzf', file], {encoding: 'utf8'}).split('\n')
  const name = names.find((n) => n === path || n === `./${path}`)
  if (!name) throw new Error(`${file} holds no ${path}`)
  return execFileSync('tar', ['-xzOf', file, name], {encoding: 'utf8'})
}

function leftovers(...dirs: string[]): string[] {
  return dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((n) => LEFTOVER.test(n)) : []))
}

let oldStack: string // the target before the restore
let archive: string // what is restored: other volumes, other compose file, other .env
let oldTree: ReturnType<typeof treeOf>
let newTree: ReturnType<typeof treeOf>

beforeAll(async () => {
  oldStack = await newStack()
  writeFileSync(join(oldStack, 'compose-override.yml'), 'old override\n') // not in the archive: removed, kept
  writeFileSync(join(oldStack, '.env'), 'MYSQL_ROOT_PASSWORD=old\n', {mode: 0o600})
  const other = await newStack()
  writeFileSync(join(other, '.env'), 'MYSQL_ROOT_PASSWORD=new\n', {mode: 0o600})
  writeFileSync(join(other, 'volumes/nodered/data/flows.json'), '[{"new": true}]\n')
  writeFileSync(join(other, 'docker-compose.yml'), `${readFileSync(join(other, 'docker-compose.yml'), 'utf8')}# new\n`)
  writeFileSync(join(other, 'post_restore.sh'), 'true\n')
  archive = join(tempDir('bk-iot-crash-archive-'), 'backup_2026-11-21_2219.tar.gz')
  const members = ['./services', './volumes', './docker-compose.yml', './.env', './post_restore.sh']
  execFileSync('tar', ['-czf', archive, '-C', other, ...members])
  oldTree = treeOf(oldStack)
  const clean = copyStack(oldStack)
  const done = await runBk(['iotstack', 'restore', archive, clean, '--yes'])
  expect(done.exitCode, done.stderr).toBe(0)
  newTree = treeOf(clean)
  expect(newTree['.env']?.sha256).not.toBe(oldTree['.env']?.sha256)
}, 120_000)

describe('bk iotstack restore killed (SIGKILL) at every commit point', () => {
  // Before the journal: the old stack. After it: the next run rolls forward to the new one.
  const points: [string, 'old' | 'new'][] = [
    ['iotstack:restore:extracted', 'old'],
    ['commit:journal', 'new'],
    ['commit:aside', 'new'],
    ['commit:part#2', 'new'], // volumes/ in, docker-compose.yml and .env not yet: the mix of issue 11
    ['commit:part#5', 'new'],
    ['commit:aside#6', 'new'], // the removal of compose-override.yml
  ]
  for (const [point, expected] of points) {
    it(`at ${point}: the next bk run finds the ${expected} stack, says so, keeps the replaced files`, async () => {
      const stack = copyStack(oldStack)
      const crashed = await runBk(['iotstack', 'restore', archive, stack, '--yes'], {env: {BK_CRASH_AT: point}})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
      if (expected === 'new') {
        const list = await runBk(['iotstack', 'list', stack])
        expect(list.stderr).toContain('a run was killed while committing')
      } else {
        expect(treeOf(stack, ['backups', '.bk-kept', ...leftovers(stack)])).toEqual(oldTree)
      }
      // The next run (a backup: it must not archive a mix, nor roll the restore back) recovers first.
      const next = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--json'])
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(
        expected === 'new' ? /finished a restore interrupted at its commit/ : /removed .*bk-extract-.*interrupted run/,
      )
      expect(treeOf(stack)).toEqual(expected === 'new' ? newTree : oldTree)
      expect(leftovers(stack, join(stack, 'backups/backup'))).toEqual([])
      const made = next.json<{artifacts: {path: string}[]}>().artifacts[0]!.path
      const env = member(made, '.env')
      expect(env).toBe(expected === 'new' ? 'MYSQL_ROOT_PASSWORD=new\n' : 'MYSQL_ROOT_PASSWORD=old\n')
      if (expected === 'new') {
        // The replaced members are kept, whole, under a name no later restore reuses.
        const [kept] = readdirSync(join(stack, '.bk-kept'))
        const keptTree = treeOf(join(stack, '.bk-kept', kept!), [])
        expect(keptTree['.env']).toEqual(oldTree['.env'])
        expect(keptTree['compose-override.yml']).toEqual(oldTree['compose-override.yml'])
        expect(keptTree['volumes/nodered/data/flows.json']).toEqual(oldTree['volumes/nodered/data/flows.json'])
      }
    }, 120_000)
  }
})

describe('bk iotstack backup killed (SIGKILL) while publishing the rolling archive and its sidecar', () => {
  const points: [string, 'old' | 'new'][] = [
    ['iotstack:backup:staged', 'old'],
    ['commit:journal', 'new'],
    ['commit:part#1', 'new'], // the new sidecar beside the old archive
    ['commit:aside#2', 'new'], // the old archive aside, the new not yet in
  ]
  for (const [point, expected] of points) {
    it(`at ${point}: list never shows a half-published archive as good; the next run finds the ${expected} pair`, async () => {
      const stack = await newStack()
      const rolling = join(stack, 'backups/rolling', `backup_${weekday()}.tar.gz`)
      const first = await runBk(['iotstack', 'backup', stack, '--type', 'rolling', '--json'])
      expect(first.exitCode, first.stderr).toBe(0)
      const oldBytes = readFileSync(rolling)
      writeFileSync(join(stack, 'volumes/nodered/data/flows.json'), '[{"second": true}]\n')
      const crashed = await runBk(['iotstack', 'backup', stack, '--type', 'rolling'], {env: {BK_CRASH_AT: point}})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
      const list = await runBk(['iotstack', 'list', stack, '--json'])
      const rows = list.json<{artifacts: {path: string; description: string}[]}>().artifacts
      // Whatever list calls good verifies; a half-published pair is listed as not matching its manifest.
      for (const r of rows.filter((r) => r.description === '.env included'))
        expect((await runBk(['iotstack', 'verify', r.path, stack])).exitCode).toBe(0)
      if (point === 'commit:part#1') expect(rows[0]?.description).toMatch(/does not match its manifest/)
      if (expected === 'new') {
        expect(list.stderr).toContain('a run was killed while committing')
      } else {
        expect(readFileSync(rolling).equals(oldBytes)).toBe(true)
        expect(rows.map((r) => r.description)).toEqual(['.env included'])
      }
      const next = await runBk(['iotstack', 'backup', stack, '--type', 'dated'])
      expect(next.exitCode, next.stderr).toBe(0)
      if (expected === 'new') expect(next.stderr).toMatch(/finished a backup interrupted at its commit/)
      else expect(next.stderr).toMatch(/removed .*bk-stage-.*interrupted run/)
      expect((await runBk(['iotstack', 'verify', rolling, stack])).exitCode).toBe(0)
      const flows = member(rolling, 'volumes/nodered/data/flows.json')
      expect(flows.includes('second')).toBe(expected === 'new')
      expect(leftovers(join(stack, 'backups/rolling'), join(stack, 'backups/backup'))).toEqual([])
      expect(readdirSync(join(stack, 'backups/rolling')).sort()).toEqual([
        `backup_${weekday()}.tar.gz`,
        `backup_${weekday()}.tar.gz.bk.json`,
      ])
    }, 120_000)
  }
})

/** Starts bk, sends `signal` once `ready()` holds, and resolves with the exit code. */
function interrupt(
  args: string[],
  ready: () => boolean,
  signal: NodeJS.Signals,
  env: Record<string, string> = {},
): Promise<number | null> {
  const child = spawn(process.execPath, [join(repoRoot(), 'apps/bk/bin/run.js'), ...args], {
    env: {...process.env, ...env, BK_DATA_DIR: join(repoRoot(), '.bk-dev'), BK_LOCK_DIR: tempDir('bk-locks-')},
    stdio: 'ignore',
  })
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (ready()) {
        clearInterval(timer)
        child.kill(signal)
      }
    }, 2)
    child.on('exit', (code) => {
      clearInterval(timer)
      code === 0 ? reject(new Error('bk finished before it could be interrupted')) : resolve(code)
    })
  })
}

describe('signals, two runs at once', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`a restore interrupted by ${signal} while extracting leaves the old stack and nothing else`, async () => {
      const source = await newStack(24 * 1024 * 1024)
      writeFileSync(join(source, '.env'), 'MYSQL_ROOT_PASSWORD=big\n', {mode: 0o600})
      const big = join(tempDir('bk-iot-crash-archive-'), 'backup_2026-11-22_0000.tar.gz')
      execFileSync('tar', ['-czf', big, '-C', source, './services', './volumes', './docker-compose.yml', './.env'])
      const stack = copyStack(oldStack)
      const code = await interrupt(
        ['iotstack', 'restore', big, stack, '--yes'],
        () => readdirSync(stack).some((n) => n.includes('.bk-extract-')),
        signal,
      )
      expect(code).toBe(signal === 'SIGINT' ? 130 : 143)
      expect(leftovers(stack)).toEqual([])
      expect(treeOf(stack)).toEqual(oldTree)
    }, 120_000)
  }

  it('a backup interrupted by SIGTERM while archiving leaves no partial, and the previous archives', async () => {
    const stack = await newStack(24 * 1024 * 1024)
    const rolling = join(stack, 'backups/rolling')
    const code = await interrupt(
      ['iotstack', 'backup', stack, '--type', 'rolling'],
      () => existsSync(rolling) && readdirSync(rolling).some((n) => LEFTOVER.test(n)),
      'SIGTERM',
    )
    expect(code).toBe(143)
    expect(readdirSync(rolling)).toEqual([])
  }, 120_000)

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`a backup interrupted by ${signal} while the stack is down for its copy brings it up again`, async () => {
      const stack = await newStack(24 * 1024 * 1024)
      const docker = fakeDocker()
      docker.setUp(true)
      const rolling = join(stack, 'backups/rolling')
      const code = await interrupt(
        ['iotstack', 'backup', stack, '--type', 'rolling'],
        () => existsSync(rolling) && readdirSync(rolling).some((n) => LEFTOVER.test(n)),
        signal,
        docker.env,
      )
      expect(code).toBe(signal === 'SIGINT' ? 130 : 143)
      expect(docker.sequence()).toEqual(['compose version', 'compose ps -q', 'compose down', 'compose up -d'])
      expect(readFileSync(docker.state, 'utf8')).toBe('up')
      expect(readdirSync(join(stack, 'backups')).filter((n) => n.startsWith('.'))).toEqual([])
    }, 120_000)
  }

  it('a backup killed (SIGKILL) while the stack is down: the next bk run brings it up and says so', async () => {
    const stack = await newStack()
    const docker = fakeDocker()
    docker.setUp(true)
    const crashed = await runBk(['iotstack', 'backup', stack, '--type', 'rolling'], {
      env: {...docker.env, BK_CRASH_AT: 'iotstack:backup:staged'},
    })
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
    expect(readFileSync(docker.state, 'utf8')).toBe('down')
    expect(existsSync(join(stack, 'backups/.bk-stack-stopped.json'))).toBe(true)
    // --dry-run recovers nothing and asks docker nothing.
    const before = docker.calls().length
    expect((await runBk(['iotstack', 'backup', stack, '--dry-run'], {env: docker.env})).exitCode).toBe(0)
    expect(docker.calls().length).toBe(before)
    // The next run (cron's next backup): its recovery brings the stack up, then it backs up as usual.
    const next = await runBk(['iotstack', 'backup', stack, '--type', 'rolling'], {env: docker.env})
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toMatch(
      /a backup killed while the stack was down for its copy \(pid \d+\) left it down: brought it up again \(docker compose up -d\)/,
    )
    expect(readFileSync(docker.state, 'utf8')).toBe('up')
    expect(existsSync(join(stack, 'backups/.bk-stack-stopped.json'))).toBe(false)
    expect(docker.sequence()).toEqual([
      ...['compose version', 'compose ps -q', 'compose down'], // the killed run
      ...['compose version', 'compose up -d'], // the next run's recovery
      ...['compose version', 'compose ps -q', 'compose down', 'compose up -d'], // its backup
    ])
  }, 120_000)

  it('a full disk (4 MiB tmpfs) fails a backup in one line, keeps the previous archive and leaves nothing', async () => {
    const location = tempDir('bk-iot-full-')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', location], {stdio: 'ignore'})
    } catch {
      console.log('skipped: mounting a tmpfs is not permitted here')
      return
    }
    try {
      const stack = await newStack()
      const args = ['iotstack', 'backup', stack, '--type', 'rolling', '--location', location]
      expect((await runBk(args)).exitCode).toBe(0)
      const rolling = join(location, 'rolling', `backup_${weekday()}.tar.gz`)
      const before = readFileSync(rolling)
      writeFileSync(join(stack, 'volumes/big.bin'), randomBytes(6 * 1024 * 1024))
      // the stack runs: it is brought down for the copy and up again although the copy failed
      const docker = fakeDocker()
      docker.setUp(true)
      const full = await runBk(args, {env: docker.env})
      expect(full.exitCode).not.toBe(0)
      expect(full.stderr).toMatch(/^bk: .*(ENOSPC|no space)/im)
      expect(docker.sequence()).toEqual(['compose version', 'compose ps -q', 'compose down', 'compose up -d'])
      expect(readFileSync(docker.state, 'utf8')).toBe('up')
      expect(readFileSync(rolling).equals(before)).toBe(true)
      expect(leftovers(join(location, 'rolling'))).toEqual([])
      expect((await runBk(['iotstack', 'verify', rolling, stack])).exitCode).toBe(0)
    } finally {
      execFileSync('umount', [location])
    }
  }, 120_000)

  it('a log that fills its disk while the stack is down: the stack is still brought up, the run fails', async () => {
    const stack = await newStack()
    const logs = join(stack, 'backups/logs')
    mkdirSync(logs, {recursive: true})
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', logs], {stdio: 'ignore'})
    } catch {
      console.log('skipped: mounting a tmpfs is not permitted here')
      return
    }
    try {
      // the logs' disk full but one page: the log's header fits, pre_backup.sh's output fills it
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(logs, `filler-${i}`), Buffer.alloc(4096))
        } catch {
          rmSync(join(logs, `filler-${i}`), {force: true})
          rmSync(join(logs, 'filler-0'))
          break
        }
      }
      writeFileSync(join(stack, 'pre_backup.sh'), 'head -c 20000 /dev/zero | tr "\\0" x || true\n')
      const docker = fakeDocker()
      docker.setUp(true)
      const run = await runBk(['iotstack', 'backup', stack, '--type', 'rolling'], {env: docker.env})
      expect(run.exitCode).not.toBe(0)
      expect(run.stderr).toMatch(/^bk: .*(ENOSPC|no space)/im)
      expect(docker.sequence()).toEqual(['compose version', 'compose ps -q', 'compose down', 'compose up -d'])
      expect(readFileSync(docker.state, 'utf8')).toBe('up')
      expect(existsSync(join(stack, 'backups/.bk-stack-stopped.json'))).toBe(false)
    } finally {
      execFileSync('umount', [logs])
    }
  }, 120_000)

  it('a second bk on the same stack is refused, naming the first and its pid', async () => {
    const stack = copyStack(oldStack)
    const started = join(tempDir(), 'started')
    const first = runBk(['iotstack', 'backup', stack, '--type', 'dated', '--pre-command', `touch ${started}; sleep 4`])
    while (!existsSync(started)) await new Promise((r) => setTimeout(r, 20))
    const second = await runBk(['iotstack', 'restore', archive, stack, '--yes'])
    expect(second.exitCode).not.toBe(0)
    expect(second.stderr).toMatch(/bk iotstack backup.*pid \d+|pid \d+.*bk iotstack backup/)
    expect((await first).exitCode).toBe(0)
    expect(treeOf(stack)).toEqual(oldTree)
  }, 120_000)
})
