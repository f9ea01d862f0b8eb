// `bk trac follow` killed (SIGKILL, BK_CRASH_AT) between a snapshot's data file and its manifest (core's
// `follow-snapshot-manifest`): the manifest is the snapshot's commit point, so the location is exactly what it was
// before the snapshot — a first snapshot leaves no generation to restore from, a periodic one leaves the
// generation restoring every commit shipped — and the next run removes the unrecorded file (saying so) and goes on.
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {FollowerProcess, runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'

async function exampleEnv(): Promise<{env: string; db: string; location: string}> {
  const parent = tempDir('bk-trac-fsc-')
  const env = join(parent, 'env')
  await makeExampleEnvironment(env, {tickets: 5, wikiPages: 2, attachments: 2})
  const db = join(env, 'db', 'trac.db')
  const conn = new Database(db)
  conn.pragma('journal_mode = WAL')
  conn.close()
  return {env, db, location: join(parent, 'follow')}
}

function tickets(db: string): number {
  const conn = new Database(db, {readonly: true})
  try {
    return (conn.prepare('SELECT count(*) AS c FROM ticket').get() as {c: number}).c
  } finally {
    conn.close()
  }
}

const generations = (location: string) => readdirSync(join(location, 'generations')).sort()

describe('bk trac follow killed between a snapshot and its manifest', () => {
  it('the first snapshot: no generation to restore from; the next run removes it and starts one', async () => {
    const {env, db, location} = await exampleEnv()
    const args = ['trac', 'follow', env, '--location', location, '--json', '--interval', '0.02']
    // the test's connection stays open: closing the last one would checkpoint and remove the WAL
    const conn = new Database(db)
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('before', 'new')").run()
    const f = new FollowerProcess(args, {BK_CRASH_AT: 'follow-snapshot-manifest'})
    expect((await f.exited).signal, f.stderr).toBe('SIGKILL')
    expect(f.shipments).toEqual([])
    const [killed] = generations(location)
    expect(generations(location)).toEqual([killed])
    // the database copy is there, whole, but no manifest records it
    expect(readdirSync(join(location, 'generations', killed!))).toEqual(['00000000.snapshot.db'])
    const status = await runBk(['trac', 'follow', '--location', location, '--status', '--json'])
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.json<{generations: number; snapshots: number}>()).toMatchObject({generations: 0, snapshots: 0})
    const early = await runBk(['trac', 'restore', location, join(tempDir(), 'env'), '--yes'])
    expect(early.exitCode).toBe(1)
    expect(early.stderr).toContain(`${location} holds no shipped database yet`)

    const g = new FollowerProcess(args)
    await g.until(() => g.shipments.some((s) => s.kind === 'snapshot'), 'the first snapshot')
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('after', 'new')").run()
    await g.until(() => g.shipments.some((s) => s.kind === 'wal' && s.commits > 0), 'the commit after')
    conn.close()
    expect((await g.stop()).code, g.stderr).toBe(0)
    expect(g.stderr).toContain(`${join(location, 'generations', killed!)} (left by a follow run that was killed`)
    const [fresh] = generations(location)
    expect(generations(location)).toEqual([fresh])
    expect(fresh).not.toBe(killed)
    const target = join(tempDir(), 'env')
    const r = await runBk(['trac', 'restore', location, target, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(tickets(join(target, 'db', 'trac.db'))).toBe(tickets(db))
  }, 120_000)

  it('a periodic snapshot: the generation restores every commit; the next run resumes it without the file', async () => {
    const {env, db, location} = await exampleEnv()
    const args = ['trac', 'follow', env, '--location', location, '--json', '--interval', '0.02']
    const conn = new Database(db)
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('before', 'new')").run()
    // the second snapshot (the periodic one, 2 s after the first) is killed before its manifest
    const f = new FollowerProcess([...args, '--snapshot-interval', '2'], {BK_CRASH_AT: 'follow-snapshot-manifest#2'})
    await f.until(() => f.shipments.some((s) => s.kind === 'snapshot'), 'the first snapshot')
    for (let i = 0; i < 3; i++) conn.prepare("INSERT INTO ticket (summary, status) VALUES ('shipped', 'new')").run()
    expect((await f.exited).signal, f.stderr).toBe('SIGKILL')
    const [gen] = generations(location)
    expect(generations(location)).toEqual([gen])
    const dir = join(location, 'generations', gen!)
    const files = readdirSync(dir).sort()
    const unrecorded = files.filter((n) => n.endsWith('.db') && !files.includes(n.replace(/\.db$/, '.json')))
    expect(unrecorded).toHaveLength(1)
    expect(unrecorded[0]).not.toBe('00000000.snapshot.db')
    // the location as it was before that snapshot: every commit (shipped under the write lock first) restores
    const before = join(tempDir(), 'env')
    const r1 = await runBk(['trac', 'restore', location, before, '--yes'])
    expect(r1.exitCode, r1.stderr).toBe(0)
    expect(tickets(join(before, 'db', 'trac.db'))).toBe(tickets(db))

    const g = new FollowerProcess(args)
    await g.until(() => /resuming generation/.test(g.stdout + g.stderr), 'the resume')
    conn.prepare("INSERT INTO ticket (summary, status) VALUES ('after', 'new')").run()
    await g.until(() => g.shipments.some((s) => s.kind === 'wal' && s.commits > 0), 'the commit after')
    conn.close()
    expect((await g.stop()).code, g.stderr).toBe(0)
    expect(g.stderr).toContain(`${join(dir, unrecorded[0]!)} (left by a follow run that was killed; shipped again)`)
    expect(g.shipments.filter((s) => s.kind === 'snapshot')).toEqual([]) // resumed, same generation
    expect(generations(location)).toEqual([gen])
    const ok = await runBk(['trac', 'follow', '--location', location, '--verify'])
    expect(ok.exitCode, ok.stdout).toBe(0)
    const after = join(tempDir(), 'env')
    const r2 = await runBk(['trac', 'restore', location, after, '--yes'])
    expect(r2.exitCode, r2.stderr).toBe(0)
    expect(tickets(join(after, 'db', 'trac.db'))).toBe(tickets(db))
  }, 120_000)
})
