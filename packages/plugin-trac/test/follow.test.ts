// `bk trac follow` against a live writer: the fixture environment's database (Trac's own schema) in WAL mode,
// a writer process committing a ticket (+ a change row, + an overwrite of one system row) every ~10 ms with
// transactions of varying size, the follower killed with SIGKILL at random moments and restarted, then stopped
// with SIGTERM. What is asserted, and why it is honest without wall-clock bounds:
// - after the stop, the restore holds EVERY transaction whose commit returned before SIGTERM was sent (stronger
//   than the "committed > 1 s before the stop": the follower's last read starts after the signal);
// - --as-of T restores exactly a prefix 1..n of the writer's transactions (no gap, no torn transaction, the
//   system row agrees with n), contains no transaction that began after T (a shipped commit is stamped with a
//   time after it was read), and contains every transaction that ended before the start of the newest read
//   (manifest polledAt) shipped at or before T — the follower's own report of what it had shipped by then;
// - PRAGMA integrity_check is ok for every restore (the restore refuses otherwise).

import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {SqliteFollowRestore} from '@bkcli/core'
import {FollowerProcess, followManifestTimes, runBk, SqliteWriter, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {fixtureEnv} from './helpers.js'

const sqliteModule = createRequire(import.meta.url).resolve('better-sqlite3')
const BASE = 1_000_000

const spec = {
  statements: [
    `INSERT INTO ticket (id, type, time, changetime, status, summary, description) VALUES (${BASE} + $N, 'defect', $N, $N, 'new', 'follow $N', '$PAD')`,
    `INSERT INTO ticket_change (ticket, time, author, field, oldvalue, newvalue) VALUES (${BASE} + $N, $N, 'bk', 'comment', '', 'c$N')`,
    `INSERT OR REPLACE INTO system (name, value) VALUES ('bk_follow_last', '$N')`,
  ],
}

/** The writer's transactions present in a restored database: their numbers, checked for consistency. */
function restoredTxns(db: string): number[] {
  const conn = new Database(db, {readonly: true})
  try {
    const ids = conn
      .prepare(`SELECT id - ${BASE} AS n FROM ticket WHERE id > ${BASE} ORDER BY id`)
      .all()
      .map((r) => (r as {n: number}).n)
    const changes = (
      conn.prepare(`SELECT count(*) AS c FROM ticket_change WHERE ticket > ${BASE}`).get() as {c: number}
    ).c
    const last = conn.prepare(`SELECT value FROM system WHERE name = 'bk_follow_last'`).get() as
      | {value: string}
      | undefined
    expect(changes).toBe(ids.length)
    expect(last ? Number(last.value) : 0).toBe(ids.at(-1) ?? 0)
    expect(ids).toEqual(ids.map((_, i) => i + 1)) // a prefix: no gap
    return ids
  } finally {
    conn.close()
  }
}

function followManifests(location: string): {kind: string; gen: string; salt1: number}[] {
  const gens = join(location, 'generations')
  return readdirSync(gens).flatMap((gen) =>
    readdirSync(join(gens, gen))
      .filter((n) => n.endsWith('.json'))
      .map((n) => {
        const m = JSON.parse(readFileSync(join(gens, gen, n), 'utf8'))
        return {kind: m.kind, gen, salt1: m.before?.salt1 ?? m.after.salt1}
      }),
  )
}

describe('bk trac follow (SQLite, WAL)', () => {
  // retry 1: once in a loaded full-suite run (2026-12-05) one --as-of restore of this history failed integrity_check:
  // the follower had lost the tail of a restarted WAL to a writer appending between its two reads of the log (fixed
  // since; core's follow-wal test reproduces it deterministically). Where the kills land is the machine's load's
  // choice, so the retry stays while that is watched; two failures in a row still fail.
  it('survives SIGKILL at random moments; restores hold every commit before the stop; --as-of matches the writer log', {
    retry: 1,
    timeout: 600_000,
  }, async () => {
    const env = fixtureEnv('sqlite-env')
    const db = join(env, 'db', 'trac.db')
    const setup = new Database(db)
    setup.pragma('journal_mode = WAL')
    setup.close()
    const location = join(tempDir('bk-follow-loc-'), 'follow')
    const writer = new SqliteWriter(sqliteModule, db, spec)
    const args = [
      'trac',
      'follow',
      env,
      '--location',
      location,
      '--json',
      '--interval',
      '0.03',
      '--checkpoint-frames',
      '60',
      '--snapshot-interval',
      '2',
    ]
    let rng = 0x2545f491
    const random = () => {
      rng = (rng * 1103515245 + 12345) >>> 0
      return rng / 2 ** 32
    }
    let kills = 0
    for (let round = 0; round < 6; round++) {
      const f = new FollowerProcess(args)
      // some kills land during start-up and the first snapshot, the others while shipping
      if (round % 2 === 1) await f.until(() => f.shipments.some((s) => s.kind === 'wal'), 'a WAL shipment')
      await new Promise((r) => setTimeout(r, 50 + random() * 700))
      const {signal} = await f.stop('SIGKILL')
      if (signal === 'SIGKILL') kills++
      if (round === 2) {
        // an attachment appears while nobody follows
        mkdirSync(join(env, 'files', 'attachments', 'wiki', 'WikiStart'), {recursive: true})
        writeFileSync(join(env, 'files', 'attachments', 'wiki', 'WikiStart', 'follow.txt'), 'shipped as it appears\n')
      }
    }
    expect(kills).toBe(6)
    const last = new FollowerProcess(args)
    await last.until(
      () => last.shipments.some((s) => s.reason === 'periodic snapshot') && last.shipments.at(-1)?.kind === 'wal',
      'a periodic snapshot, then a WAL shipment',
    )
    const stopAt = Date.now()
    const {code} = await last.stop('SIGTERM')
    expect(code, last.stderr).toBe(0)
    const txns = await writer.stop()
    const result = JSON.parse(last.stdout.trim().split('\n').at(-1)!)
    expect(result.kind).toBe('operation')
    expect(result.stoppedBy).toBe('SIGTERM')

    const status = await runBk(['trac', 'follow', '--location', location, '--status', '--json'])
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.json<{ok: boolean; generations: number}>().ok).toBe(true)
    const verify = await runBk(['trac', 'follow', '--location', location, '--verify'])
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0)

    // the newest state: every transaction that had committed before SIGTERM was sent
    const target = join(tempDir('bk-follow-restore-'), 'env')
    const restored = await runBk(['trac', 'restore', location, target, '--yes', '--json'])
    expect(restored.exitCode, restored.stderr).toBe(0)
    const newest = restoredTxns(join(target, 'db', 'trac.db'))
    const before = txns.filter((t) => t.e < stopAt)
    expect(before.length).toBeGreaterThan(100)
    expect(newest.length).toBeGreaterThanOrEqual(before.length)
    expect(readFileSync(join(target, 'files', 'attachments', 'wiki', 'WikiStart', 'follow.txt'), 'utf8')).toBe(
      'shipped as it appears\n',
    )

    // --as-of many random moments, in process (the same restore code as the command)
    const manifests = followManifestTimes(location)
    const from = manifests[0]!.time
    const to = manifests.at(-1)!.time
    const sizes = new Set<number>()
    for (let i = 0; i < 25; i++) {
      // exactly at a shipment's time, a millisecond before one (the boundaries), or anywhere
      const at = manifests[Math.floor(random() * manifests.length)]!.time
      const t = i % 3 === 0 ? at : i % 3 === 1 ? at - 1 : Math.floor(from + random() * (to - from))
      const dest = join(tempDir('bk-follow-asof-'), 'trac.db')
      const restore = await SqliteFollowRestore.open(location, {db: dest, asOf: new Date(t)})
      await restore.run()
      const got = restoredTxns(dest)
      const n = got.length
      sizes.add(n)
      // nothing that began after T
      for (const x of txns) if (x.n <= n) expect(x.s, `txn ${x.n} restored as of ${t}`).toBeLessThanOrEqual(t)
      // everything that ended before the newest read shipped by T
      const floor = Math.max(...manifests.filter((m) => m.time <= t).map((m) => m.polledAt))
      for (const x of txns) if (x.e < floor) expect(x.n, `txn ${x.n} ended before ${floor}`).toBeLessThanOrEqual(n)
    }
    expect(sizes.size).toBeGreaterThan(8) // the moments fall between many different commits

    // the paths taken: resumes and new generations after kills, the WAL restarted (by the follower's own
    // checkpoints) and followed as a continuation within a generation, periodic snapshots
    const epochs = new Map<string, Set<number>>()
    for (const m of followManifests(location)) {
      if (m.kind === 'wal') epochs.set(m.gen, (epochs.get(m.gen) ?? new Set()).add(m.salt1))
    }
    expect(Math.max(...[...epochs.values()].map((e) => e.size))).toBeGreaterThan(1)
    expect(manifests.filter((m) => m.kind === 'snapshot').length).toBeGreaterThan(
      new Set(manifests.map((m) => m.gen)).size,
    )
  })
})
