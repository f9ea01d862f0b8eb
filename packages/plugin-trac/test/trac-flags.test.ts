// trac pull --all fetches every off-site backup not here yet, byte for byte; verify --from checks a copy on the
// remote (and fails for a damaged one). Off-site target: a plain rclone local remote (testkit).
import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {findProcesses} from '@bkcli/core'
import {archiveDigests, offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {dbName, dropPg, fixtureCounts, fixtureEnv, PG_URL, pgAdmin, pgDump, sqliteDump} from './helpers.js'

describe('bk trac pull --all, verify --from', () => {
  it('pull --all brings back every copy; verify --from checks one on the remote', async () => {
    const targets = offsiteTargets()
    const env = join(tempDir('bk-trac-flags-'), 'env')
    await makeExampleEnvironment(env, {tickets: 3, wikiPages: 1, attachments: 1})
    const location = join(env, '..', 'backups')
    const remote = targets.plain('trac')
    for (let i = 0; i < 2; i++) {
      const r = await runBk(['trac', 'backup', env, '--location', location, '--copy-to', remote], {env: targets.env})
      expect(r.exitCode, r.stderr).toBe(0)
    }
    const made = archiveDigests(location)
    expect(Object.keys(made)).toHaveLength(2)
    rmSync(location, {recursive: true})

    const one = await runBk(['trac', 'pull', remote, '--location', location], {env: targets.env})
    expect(one.exitCode, one.stderr).toBe(0)
    expect(Object.keys(archiveDigests(location))).toHaveLength(1)
    const all = await runBk(['trac', 'pull', remote, '--location', location, '--all'], {env: targets.env})
    expect(all.exitCode, all.stderr).toBe(0)
    expect(archiveDigests(location)).toEqual(made)

    const [first] = Object.keys(made)
    const ok = await runBk(['trac', 'verify', first!, '--from', remote, '--json'], {env: targets.env})
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(ok.json<{ok: boolean; artifact: string}>()).toMatchObject({ok: true})
    // the remote copy damaged: verify --from checks the remote, not the local one
    writeFileSync(join(targets.dir, 'trac', first!), 'damaged')
    const bad = await runBk(['trac', 'verify', first!, '--from', remote], {env: targets.env})
    expect(bad.exitCode).toBe(1)
  })
})

// Stand-in tracd: a node script named tracd that logs its argv when it starts and writes its pid to --pidfile.
const started: string[] = []
afterEach(() => {
  for (const script of started.splice(0))
    for (const p of findProcesses((x) => x.argv[1] === script)) {
      try {
        process.kill(p.pid, 'SIGTERM')
      } catch {}
    }
})

async function standInTracd(args: string[]): Promise<{script: string; log: string}> {
  const dir = tempDir('bk-trac-standin-')
  const script = join(dir, 'tracd')
  const log = join(dir, 'argv.log')
  writeFileSync(
    script,
    "const fs = require('node:fs'); const a = process.argv.slice(2)\n" +
      `fs.appendFileSync(${JSON.stringify(log)}, a.join(' ') + '\\n')\n` +
      "const i = a.indexOf('--pidfile'); if (i >= 0) fs.writeFileSync(a[i + 1], String(process.pid))\n" +
      "process.on('SIGTERM', () => process.exit(0)); setTimeout(() => process.exit(0), 60000)\n",
  )
  writeFileSync(join(dir, 'package.json'), '{"type": "commonjs"}')
  started.push(script)
  spawn(process.execPath, [script, ...args], {stdio: 'ignore', detached: true}).unref()
  while (!existsSync(log)) await new Promise((res) => setTimeout(res, 20))
  return {script, log}
}
const pidsOf = (script: string) => findProcesses((x) => x.argv[1] === script).map((p) => p.pid)

describe('bk trac restore --stop-server, --stop-tracd', () => {
  it('stops the pidfile tracd and the one found serving the env, restores, starts both again', async () => {
    const hot = fixtureEnv('sqlite-hotcopy')
    const env = fixtureEnv('sqlite-env')
    const pidfile = join(tempDir(), 'tracd.pid')
    // served by its pidfile only (its command line names another folder, so no scan would find it)
    const byPidfile = await standInTracd(['-p', '8131', '--pidfile', pidfile, '-e', '/nonexistent-parent'])
    // found by --stop-tracd: its command line names the environment
    const byScan = await standInTracd(['-p', '8132', env])
    const before = [...pidsOf(byPidfile.script), ...pidsOf(byScan.script)]
    expect(before).toHaveLength(2)
    const r = await runBk(['trac', 'restore', hot, env, '--yes', '--stop-tracd', '--stop-server', pidfile])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(sqliteDump(join(env, 'db/trac.db'))).toEqual(sqliteDump(join(hot, 'db/trac.db')))
    expect(r.stdout).toContain(`Stopped tracd pid ${before[0]} and started it again.`)
    expect(r.stdout).toContain(`Stopped tracd pid ${before[1]} and started it again.`)
    // each started twice with the same argv, now under new pids (started detached: wait for them to log)
    for (const {log} of [byPidfile, byScan])
      for (let i = 0; i < 250 && readFileSync(log, 'utf8').split('\n').length < 3; i++)
        await new Promise((res) => setTimeout(res, 20))
    expect(readFileSync(byPidfile.log, 'utf8')).toBe(`-p 8131 --pidfile ${pidfile} -e /nonexistent-parent\n`.repeat(2))
    expect(readFileSync(byScan.log, 'utf8')).toBe(`-p 8132 ${env}\n`.repeat(2))
    const after = [...pidsOf(byPidfile.script), ...pidsOf(byScan.script)]
    expect(after).toHaveLength(2)
    expect(after.some((p) => before.includes(p))).toBe(false)
  })
})

describe('bk trac verify --scratch-db', () => {
  it('loads the dump into a scratch database as the --scratch-db user (dropped after), never the database it names', async () => {
    // a bk backup of a PostgreSQL env (its own server: root@127.0.0.1)
    const own = dbName()
    const live = dbName('bk_trac_live')
    const role = dbName('bk_trac_role')
    const env = join(tempDir(), 'env')
    const location = join(env, '..', 'backups')
    try {
      const restored = await runBk(['trac', 'restore', fixtureEnv('postgres-hotcopy'), env, '--db', `${PG_URL}/${own}`])
      expect(restored.exitCode, restored.stderr).toBe(0)
      const backup = await runBk(['trac', 'backup', env, '--location', location, '--json'])
      expect(backup.exitCode, backup.stderr).toBe(0)
      const [archive] = readdirSync(location).filter((n) => n.endsWith('.tar.gz'))
      // --scratch-db as a user who may not create databases: refused, so it is that server and user that is used
      await pgAdmin(async (c) => {
        await c.query(`CREATE ROLE "${role}" LOGIN`)
        await c.query(`CREATE DATABASE "${live}" OWNER "${role}"`)
      })
      await pgAdmin((c) => c.query('CREATE TABLE marker (v text); INSERT INTO marker VALUES ($$kept$$)'), live)
      const scratch = `postgres://${role}@127.0.0.1:5432/${live}`
      const refused = await runBk(['trac', 'verify', join(location, archive!), '--scratch-db', scratch])
      expect(refused.exitCode).not.toBe(0)
      expect(refused.stderr).toMatch(/permission denied to create database/)
      await pgAdmin((c) => c.query(`ALTER ROLE "${role}" CREATEDB`))
      const before = await scratchDbs()
      const r = await runBk(['trac', 'verify', join(location, archive!), '--scratch-db', scratch, '--json'])
      expect(r.exitCode, r.stderr).toBe(0)
      const out = r.json<{ok: boolean; engine: string; tables: Record<string, number>}>()
      expect(out).toMatchObject({ok: true, engine: 'postgres'})
      expect(out.tables.ticket).toBe(fixtureCounts('postgres').ticket)
      // the named database untouched (its one table, its one row), and no scratch database left behind
      expect(await pgDump(live)).toEqual({marker: ['"kept"']})
      expect((await scratchDbs()).filter((n) => !before.includes(n))).toEqual([])
    } finally {
      await dropPg(own)
      await dropPg(live)
      await pgAdmin((c) => c.query(`DROP ROLE IF EXISTS "${role}"`))
    }
  })
})

describe('bk trac backup --allow-unencrypted', () => {
  it('a plain off-site target is refused while trac.ini holds a database password, nothing written; allowed with it', async () => {
    const targets = offsiteTargets()
    const own = dbName()
    const env = join(tempDir(), 'env')
    const location = join(env, '..', 'backups')
    try {
      const restored = await runBk(['trac', 'restore', fixtureEnv('postgres-hotcopy'), env, '--db', `${PG_URL}/${own}`])
      expect(restored.exitCode, restored.stderr).toBe(0)
      // a password in trac.ini's database URL (the server trusts 127.0.0.1, so any password works)
      const ini = join(env, 'conf/trac.ini')
      writeFileSync(ini, readFileSync(ini, 'utf8').replace('postgres://root@', 'postgres://root:s3cret@'))
      const remote = targets.plain('trac')
      const backup = ['trac', 'backup', env, '--location', location, '--copy-to', remote]
      const refused = await runBk(backup, {env: targets.env})
      expect(refused.exitCode).not.toBe(0)
      expect(refused.stderr).toMatch(/does not encrypt and the backup holds the database password of trac\.ini/)
      expect(existsSync(location) ? readdirSync(location) : []).toEqual([])
      expect(existsSync(join(targets.dir, 'trac'))).toBe(false)
      const r = await runBk([...backup, '--allow-unencrypted'], {env: targets.env})
      expect(r.exitCode, r.stderr).toBe(0)
      const made = archiveDigests(location)
      expect(Object.keys(made)).toHaveLength(1)
      expect(archiveDigests(join(targets.dir, 'trac'))).toEqual(made)
    } finally {
      await dropPg(own)
    }
  })
})

// verify names its scratch databases bk_verify_<its pid>_…; runBk's bk is a child of this process
const scratchDbs = () =>
  pgAdmin(async (c) =>
    (await c.query<{n: string}>("SELECT datname AS n FROM pg_database WHERE datname LIKE 'bk\\_verify\\_%'")).rows.map(
      (r) => r.n,
    ),
  )
