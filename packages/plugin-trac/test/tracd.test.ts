/**
 * `bk trac restore` stops the tracd processes serving the environment and starts them again afterwards; stand-in
 * tracd processes (node scripts named tracd) stand for the real one. Also --stop-unit with a stand-in systemctl.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {findProcesses} from '@bkcli/core'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {isTracd, servesEnv} from '../src/tracd.js'
import {fixtureEnv, sqliteDump} from './helpers.js'

const started: number[] = []
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
  }
})

/** A stand-in tracd: a node script named tracd that stops on SIGTERM, and by itself after a minute. */
function tracdScript(): string {
  const file = join(tempDir(), 'tracd')
  writeFileSync(file, "process.on('SIGTERM', () => process.exit(0)); setTimeout(() => process.exit(0), 60000)\n")
  return file
}

async function startTracd(script: string, args: string[], cwd?: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script, ...args], {stdio: 'ignore', cwd})
  started.push(child.pid as number)
  while (
    !existsSync(`/proc/${child.pid}/cmdline`) ||
    !readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').includes(script)
  )
    await new Promise((res) => setTimeout(res, 20))
  return child
}

function running(script: string): {pid: number; argv: string[]}[] {
  return findProcesses((p) => p.argv[1] === script).map((p) => ({pid: p.pid, argv: p.argv}))
}

describe('finding tracd', () => {
  it('knows tracd command lines and which environment they serve', () => {
    expect(isTracd(['/usr/bin/python3', '/usr/local/bin/tracd', '-p', '8000', '/srv/trac/a'])).toBe(true)
    expect(isTracd(['tracd', '--port=8000', '/srv/trac/a'])).toBe(true)
    expect(isTracd(['python3', '-m', 'trac.web.standalone', '/srv/trac/a'])).toBe(true)
    expect(isTracd(['trac-admin', '/srv/trac/a', 'upgrade'])).toBe(false)
    const env = join(tempDir(), 'projects', 'a')
    mkdirSync(env, {recursive: true})
    expect(servesEnv({argv: ['tracd', '-p', '8000', env], cwd: '/'}, env)).toBe(true)
    expect(servesEnv({argv: ['tracd', '-p', '8000', 'a'], cwd: dirname(env)}, env)).toBe(true)
    expect(servesEnv({argv: ['tracd', '-e', dirname(env)], cwd: '/'}, env)).toBe(true)
    expect(servesEnv({argv: ['tracd', `--env-parent-dir=${dirname(env)}`], cwd: '/'}, env)).toBe(true)
    expect(servesEnv({argv: ['tracd', '-p', '8000', `${env}-other`], cwd: '/'}, env)).toBe(false)
    expect(servesEnv({argv: ['tracd', '-e', env], cwd: '/'}, env)).toBe(false)
  })
})

describe('bk trac restore and the tracd serving the environment', () => {
  it('stops the tracd serving the env (by path and by -e parent), starts them again, leaves others alone', async () => {
    const hot = fixtureEnv('sqlite-hotcopy')
    const env = fixtureEnv('sqlite-env')
    const script = tracdScript()
    const byPath = await startTracd(script, ['-p', '8123', env])
    const byParent = await startTracd(script, ['-e', dirname(env), '-p', '8124'])
    const other = await startTracd(script, ['-p', '8125', `${env}-elsewhere`])
    // the plan names them, and a dry run leaves them running
    const dry = await runBk(['trac', 'restore', hot, env, '--yes', '--dry-run'])
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(new RegExp(`stop +tracd pid ${byPath.pid}`))
    expect(dry.stdout).toMatch(new RegExp(`stop +tracd pid ${byParent.pid}`))
    expect(dry.stdout).not.toContain(`pid ${other.pid}`)
    expect(running(script).map((p) => p.pid)).toEqual(
      ([byPath.pid, byParent.pid, other.pid] as number[]).sort((a, b) => a - b),
    )

    const r = await runBk(['trac', 'restore', hot, env, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Stopped tracd pid ${byPath.pid} and started it again.`)
    expect(r.stdout).toContain(`Stopped tracd pid ${byParent.pid} and started it again.`)
    expect(r.stdout).not.toContain('Restart every Trac process')
    expect(sqliteDump(join(env, 'db/trac.db'))).toEqual(sqliteDump(join(hot, 'db/trac.db')))
    const now = running(script)
    for (const p of now) started.push(p.pid)
    // the two were replaced by new processes with the same command lines; the other one never stopped
    expect(now.some((p) => p.pid === byPath.pid || p.pid === byParent.pid)).toBe(false)
    expect(now.map((p) => p.argv.slice(2).join(' ')).sort()).toEqual(
      [`-p 8123 ${env}`, `-e ${dirname(env)} -p 8124`, `-p 8125 ${env}-elsewhere`].sort(),
    )
    expect(now.find((p) => p.argv.includes('8125'))?.pid).toBe(other.pid)
  })

  it('--no-stop-tracd leaves them running; --stop-unit goes through systemctl, stopped and started again', async () => {
    const hot = fixtureEnv('sqlite-hotcopy')
    const env = fixtureEnv('sqlite-env')
    const script = tracdScript()
    const tracd = await startTracd(script, ['-p', '8126', env])
    const bin = join(tempDir(), 'bin')
    mkdirSync(bin)
    const log = join(dirname(bin), 'calls.log')
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> "${log}"\n`, {mode: 0o755})
    const r = await runBk(['trac', 'restore', hot, env, '--yes', '--no-stop-tracd', '--stop-unit', 'apache2.service'], {
      env: {PATH: `${bin}:${process.env.PATH}`},
    })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readFileSync(log, 'utf8')).toBe('systemctl stop apache2.service\nsystemctl start apache2.service\n')
    expect(r.stdout).toContain('Stopped unit apache2.service and started it again.')
    expect(running(script).map((p) => p.pid)).toEqual([tracd.pid])
  })
})
