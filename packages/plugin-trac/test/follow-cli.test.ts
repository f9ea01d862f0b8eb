// `bk trac follow` / `bk trac restore <follow-location>`: the flags and the failure paths, on an example
// environment (no fixtures): --print-unit, --status, --verify finding damage, a database not in WAL mode, --as-of
// errors, and crash points (BK_CRASH_AT) in the follower and in the restore's commit, each recovered by the next run.
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {FollowerProcess, followOnce, runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {tracFollowTarget} from '../src/follow.js'

async function exampleEnv(wal = true): Promise<{parent: string; env: string; db: string; location: string}> {
  const parent = tempDir('bk-trac-follow-')
  const env = join(parent, 'env')
  await makeExampleEnvironment(env, {tickets: 5, wikiPages: 2, attachments: 2})
  const db = join(env, 'db', 'trac.db')
  if (wal) {
    const conn = new Database(db)
    conn.pragma('journal_mode = WAL')
    conn.close()
  }
  return {parent, env, db, location: join(parent, 'follow')}
}

function tickets(db: string): number {
  const conn = new Database(db, {readonly: true})
  try {
    return (conn.prepare('SELECT count(*) AS c FROM ticket').get() as {c: number}).c
  } finally {
    conn.close()
  }
}

describe('bk trac follow: flags and failures', () => {
  it('--print-unit prints a systemd unit running the same follow', async () => {
    const {env, location} = await exampleEnv()
    const r = await runBk([
      'trac',
      'follow',
      env,
      '--location',
      location,
      '--interval',
      '0.5',
      '--keep-generations',
      '3',
      '--print-unit',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^\[Unit\]\nDescription=bk trac follow: continuous backup of /)
    expect(r.stdout).toContain(`trac follow ${env} --location ${location} --interval 0.5 --keep-generations 3 --quiet`)
    expect(r.stdout).toContain('KillSignal=SIGTERM')
    expect(r.stdout).toContain('Restart=always')
    expect(readdirSync(join(location, '..'))).not.toContain('follow') // nothing created
  }, 60_000)

  it('refuses a database not in WAL mode, creating nothing', async () => {
    const {env, location, parent} = await exampleEnv(false)
    const r = await runBk(['trac', 'follow', env, '--location', location])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/is not in WAL mode; follow needs it: run sqlite3 .* 'PRAGMA journal_mode=WAL'/)
    expect(readdirSync(parent)).toEqual(['env'])
  }, 60_000)

  it('--status reads the location; --verify finds a damaged segment', async () => {
    const {env, db, location} = await exampleEnv()
    const f = new FollowerProcess(['trac', 'follow', env, '--location', location, '--json', '--interval', '0.02'])
    await f.until(() => f.shipments.some((s) => s.kind === 'snapshot'), 'the first snapshot')
    const conn = new Database(db)
    for (let i = 0; i < 5; i++) conn.prepare("INSERT INTO ticket (summary, status) VALUES ('follow', 'new')").run()
    await f.until(
      () => f.shipments.filter((s) => s.kind === 'wal').reduce((a, s) => a + s.commits, 0) >= 5,
      'five commits',
    )
    conn.close()
    expect((await f.stop()).code, f.stderr).toBe(0)

    const status = await runBk(['trac', 'follow', '--location', location, '--status', '--json'])
    expect(status.exitCode, status.stderr).toBe(0)
    const s = status.json<{
      ok: boolean
      generations: number
      commits: number
      snapshots: number
      files: Record<string, number>
    }>()
    expect(s).toMatchObject({ok: true, generations: 1, commits: 5, snapshots: 1, files: {attachments: 2}})
    const ok = await runBk(['trac', 'follow', '--location', location, '--verify'])
    expect(ok.exitCode, ok.stdout).toBe(0)
    expect(ok.stdout).toMatch(/^OK: /)

    // --as-of through the command: the snapshot's moment has none of the five; the newest has them all
    const snapshotTime = f.shipments.find((x) => x.kind === 'snapshot')!.time
    const early = join(tempDir(), 'env')
    const asOf = await runBk(['trac', 'restore', location, early, '--as-of', snapshotTime, '--json'])
    expect(asOf.exitCode, asOf.stderr).toBe(0)
    expect(asOf.json<{commits: number; asOf: string}>()).toMatchObject({commits: 0, asOf: snapshotTime})
    expect(tickets(join(early, 'db', 'trac.db'))).toBe(tickets(db) - 5)
    // a new path: nothing to confirm; the frontends named are stopped before and started after the swap
    const newest = join(tempDir(), 'env')
    const calls = join(tempDir(), 'calls.log')
    const newDb = join(newest, 'db', 'trac.db')
    const r = await runBk([
      'trac',
      'restore',
      location,
      newest,
      '--stop-command',
      `test -e ${newDb} || echo stop-before >> ${calls}`,
      '--start-command',
      `test -e ${newDb} && echo start-after >> ${calls}`,
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readFileSync(calls, 'utf8')).toBe('stop-before\nstart-after\n')
    expect(r.stdout).toContain('and started it again.')
    expect(tickets(newDb)).toBe(tickets(db))

    const gen = join(location, 'generations', readdirSync(join(location, 'generations'))[0]!)
    const segment = join(gen, readdirSync(gen).find((n) => n.endsWith('.wal'))!)
    const bytes = readFileSync(segment)
    bytes[100] = (bytes[100]! + 1) & 0xff
    writeFileSync(segment, bytes)
    const bad = await runBk(['trac', 'follow', '--location', location, '--verify'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stdout).toContain(`problem: ${segment}: sha256 does not match its manifest`)
    const restore = await runBk(['trac', 'restore', location, join(tempDir(), 'env'), '--yes'])
    expect(restore.exitCode).toBe(1)
    expect(restore.stderr).toContain(`${segment} does not match its manifest's sha256`)

    // a folder log naming a path outside the folder: --dry-run refuses as the restore would, creating nothing
    const logs = join(location, 'files', 'attachments', 'log')
    const sha256 = JSON.parse(readFileSync(join(logs, readdirSync(logs)[0]!), 'utf8')).entries[0].sha256
    const seq = readdirSync(logs).length
    writeFileSync(
      join(logs, `${String(seq).padStart(8, '0')}.json`),
      JSON.stringify({seq, time: new Date().toISOString(), entries: [{path: '../escaped.txt', sha256, bytes: 1}]}),
    )
    const target = join(tempDir(), 'env')
    const dry = await runBk(['trac', 'restore', location, target, '--dry-run'])
    expect(dry.exitCode).toBe(1)
    expect(dry.stderr).toContain(
      `${logs} names "../escaped.txt", not a file inside the folder; the location is damaged (run --verify)`,
    )
    expect(readdirSync(join(target, '..'))).toEqual([])
  }, 120_000)

  it('--as-of before anything shipped, or with something not a follow location, is refused', async () => {
    const {env, location} = await exampleEnv()
    await followOnce(await tracFollowTarget(env), location)
    const early = await runBk(['trac', 'restore', location, join(tempDir(), 'x'), '--as-of', '2001-01-01T00:00:00Z'])
    expect(early.exitCode).toBe(1)
    expect(early.stderr).toContain('holds nothing as old as 2001-01-01T00:00:00.000Z; give a later --as-of')
    const other = await runBk(['trac', 'restore', env, join(tempDir(), 'x'), '--as-of', '2001-01-01'])
    expect(other.exitCode).toBe(1)
    expect(other.stderr).toContain('--as-of needs a bk trac follow location')
  }, 60_000)

  it('a follower killed between a segment and its manifest: the next run removes the segment and ships it again', async () => {
    const {env, db, location} = await exampleEnv()
    const args = ['trac', 'follow', env, '--location', location, '--json', '--interval', '0.02']
    // a commit before the follower starts: the WAL has a header (salts) when the snapshot is taken, so the
    // resume can prove the WAL continues it (an empty WAL at the snapshot would make the resume a new generation)
    const conn = new Database(db)
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('before', 'new')").run()
    const f = new FollowerProcess(args, {BK_CRASH_AT: 'follow-wal-manifest'})
    await f.until(() => f.shipments.some((s) => s.kind === 'snapshot'), 'the first snapshot')
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('crash', 'new')").run()
    expect((await f.exited).signal).toBe('SIGKILL')
    const gen = join(location, 'generations', readdirSync(join(location, 'generations'))[0]!)
    expect(readdirSync(gen).filter((n) => n.endsWith('.wal'))).toEqual(['00000001.wal']) // no manifest
    const g = new FollowerProcess(args)
    await g.until(() => g.shipments.some((s) => s.kind === 'wal'), 'the segment shipped again')
    expect(g.shipments.filter((s) => s.kind === 'snapshot')).toEqual([]) // resumed, same generation
    conn.close()
    expect((await g.stop()).code, g.stderr).toBe(0)
    expect(g.stderr).toContain('00000001.wal (left by a follow run that was killed; shipped again)')
    const target = join(tempDir(), 'env')
    const r = await runBk(['trac', 'restore', location, target, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(tickets(join(target, 'db', 'trac.db'))).toBe(tickets(db))
  }, 120_000)

  it('--keep-generations: a run killed between setting a generation aside and deleting it is finished by the next', async () => {
    const {env, db, location} = await exampleEnv()
    // two generations (the WAL is empty at each start, so each run starts a new one)
    await followOnce(await tracFollowTarget(env), location)
    await followOnce(await tracFollowTarget(env), location)
    const gens = () => readdirSync(join(location, 'generations')).sort()
    const [a, b] = gens()
    expect(gens()).toHaveLength(2)
    const args = ['trac', 'follow', env, '--location', location, '--json', '--interval', '0.02', '--keep-generations']
    const f = new FollowerProcess([...args, '1'], {BK_CRASH_AT: 'follow-retention-aside'})
    expect((await f.exited).signal).toBe('SIGKILL')
    const c = gens().find((n) => n > b! && !n.endsWith('.bk-removing'))!
    expect(gens()).toEqual([`${a}.bk-removing`, b, c])
    const g = new FollowerProcess([...args, '1'])
    await g.until(() => g.shipments.some((s) => s.kind === 'snapshot'), 'the next generation')
    await g.until(() => gens().length === 1, 'the retention')
    expect((await g.stop()).code, g.stderr).toBe(0)
    expect(g.stderr).toContain(`${a}.bk-removing (a generation retention had set aside)`)
    expect(g.stderr).toContain(`removed generation ${b} (--keep-generations 1)`)
    expect(g.stderr).toContain(`removed generation ${c} (--keep-generations 1)`)
    expect(gens()[0]! > c).toBe(true)
    const target = join(tempDir(), 'env')
    const r = await runBk(['trac', 'restore', location, target, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(tickets(join(target, 'db', 'trac.db'))).toBe(tickets(db))
  }, 120_000)

  it('a restore killed inside its commit is finished by the next run: the database is the new one', async () => {
    const {env, db, location} = await exampleEnv()
    await followOnce(await tracFollowTarget(env), location)
    const conn = new Database(db)
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('after the follow', 'new')").run()
    conn.close()
    const before = tickets(db)
    const crashed = await runBk(['trac', 'restore', location, env, '--yes'], {env: {BK_CRASH_AT: 'commit:aside'}})
    expect(crashed.signal).toBe('SIGKILL')
    const again = await runBk(['trac', 'restore', location, env, '--yes'])
    expect(again.exitCode, again.stderr).toBe(0)
    expect(again.stderr).toContain('finished a restore interrupted at its commit')
    expect(tickets(db)).toBe(before - 1)
  }, 120_000)
})
