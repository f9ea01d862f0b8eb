// The WAL reader under the SQLite follower, on logs written by SQLite itself: every committed transaction is
// found with its frames, a torn or damaged tail is never part of what is shipped, and the header's checksum and
// salts are checked. And the follower's restore: a location replayed to a time gives exactly the commits seen by then.
import {execFile} from 'node:child_process'
import {copyFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {parseWalHeader, SqliteFollower, SqliteFollowRestore, walChecksum} from '@bkcli/core'
import {tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {listGenerations, REMOVING_SUFFIX} from '../src/follow/sqlite/location.js'
import {frameOffset, readWalHeader, scanWal} from '../src/follow/sqlite/wal.js'

const run = promisify(execFile)
const sqliteModule = createRequire(import.meta.url).resolve('better-sqlite3')

/** A WAL database with `n` transactions in its -wal (the connection is left open so the log stays). */
function walDb(n: number): {dir: string; db: string; conn: Database.Database} {
  const dir = tempDir('bk-wal-')
  const db = join(dir, 'a.db')
  const conn = new Database(db)
  conn.pragma('journal_mode = WAL')
  conn.pragma('wal_autocheckpoint = 0')
  conn.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)')
  for (let i = 0; i < n; i++) conn.prepare('INSERT INTO t (pad) VALUES (?)').run('x'.repeat(100 + i * 700))
  return {dir, db, conn}
}

async function scanFile(wal: string) {
  const fh = await open(wal, 'r')
  try {
    const header = await readWalHeader(fh)
    if (!header) return undefined
    return {header, scan: await scanWal(fh, header, 0, header.cksum)}
  } finally {
    await fh.close()
  }
}

describe('SQLite WAL reader', () => {
  it('finds every committed transaction of a log SQLite wrote', async () => {
    const {db, conn} = walDb(12)
    const r = await scanFile(`${db}-wal`)
    expect(r).toBeDefined()
    expect(r!.scan.commits.length).toBe(13) // CREATE TABLE + 12 inserts
    expect(r!.scan.pending).toBe(0)
    expect(r!.scan.end).toBe(r!.scan.commits.at(-1)!.last)
    // the header checks itself; one changed byte and it is no header
    const head = readFileSync(`${db}-wal`).subarray(0, 32)
    expect(parseWalHeader(head)?.pageSize).toBe(conn.pragma('page_size', {simple: true}))
    const bad = Buffer.from(head)
    bad[17] = bad[17]! ^ 1
    expect(parseWalHeader(bad)).toBeUndefined()
    expect(walChecksum(Buffer.alloc(8), false, [1, 2])).toEqual([3, 5])
    conn.close()
  })

  it('a torn last frame or a damaged page ends the log before that transaction', async () => {
    const {dir, db, conn} = walDb(6)
    const full = (await scanFile(`${db}-wal`))!
    const last = full.scan.commits.at(-1)!
    const ps = full.header.pageSize
    // torn: the log cut in the middle of the last transaction's commit frame
    const torn = join(dir, 'torn-wal')
    copyFileSync(`${db}-wal`, torn)
    truncateSync(torn, frameOffset(last.last, ps) + 100)
    const t = (await scanFile(torn))!
    expect(t.scan.commits.length).toBe(full.scan.commits.length - 1)
    expect(t.scan.end).toBe(last.first - 1)
    // damaged: one byte of a page in the third transaction breaks the checksum chain there
    const third = full.scan.commits[2]!
    const damaged = join(dir, 'damaged-wal')
    const bytes = readFileSync(`${db}-wal`)
    bytes[frameOffset(third.first, ps) + 24 + 10]! ^= 0xff
    writeFileSync(damaged, bytes)
    const d = (await scanFile(damaged))!
    expect(d.scan.commits.length).toBe(2)
    expect(d.scan.frames.length).toBe((third.first - 1) * (24 + ps))
    conn.close()
  })
})

describe('SqliteFollower in process', () => {
  it('ships each commit once, follows its own checkpoints, and restores exactly as of each shipment', async () => {
    const {dir, db, conn} = walDb(1)
    conn.pragma('wal_autocheckpoint = 1000')
    conn.close()
    // keep the WAL from being removed when the writers close: a reader that stays (as the application would)
    const keep = new Database(db, {readonly: true})
    const location = join(dir, 'follow')
    const seen: {time: string; kind: string; commits: number}[] = []
    const follower = new SqliteFollower(
      {app: 'test', db},
      {location, pollMs: 5, checkpointFrames: 20},
      {info() {}, note() {}, shipped: (s) => seen.push(s)},
    )
    const running = follower.run()
    // a follower that stopped early fails the test with its reason, not a wait for a shipment that never comes
    let ended: unknown
    running.then(
      (r) => (ended = r),
      (error) => (ended = error),
    )
    // the first generation's snapshot before any insert: a commit made while it is taken is in the snapshot, never
    // shipped as WAL (a loaded machine once started the follower after the first insert, and the wait below hung)
    while (!seen.some((s) => s.kind === 'snapshot')) {
      expect({followerEnded: ended}).toEqual({followerEnded: undefined})
      await new Promise((r) => setTimeout(r, 2))
    }
    // one insert per shipment: wait for each to be shipped before the next
    for (let i = 0; i < 40; i++) {
      const before = seen.filter((s) => s.kind === 'wal').length
      // another process (an insert here would block this event loop while the follower holds the write lock)
      await run(process.execPath, [
        '-e',
        `const D = require(${JSON.stringify(sqliteModule)}); new D(${JSON.stringify(db)}, {timeout: 30000}).prepare('INSERT INTO t (pad) VALUES (?)').run('row ${i}')`,
      ])
      while (seen.filter((s) => s.kind === 'wal').length === before) {
        expect({insert: i, followerEnded: ended}).toEqual({insert: i, followerEnded: undefined})
        await new Promise((r) => setTimeout(r, 2))
      }
    }
    follower.stop('done')
    const result = await running
    expect(result.snapshots).toBe(1) // one generation: every WAL restart was the follower's own, followed
    expect(result.commits).toBe(40)
    const wals = seen.filter((s) => s.kind === 'wal')
    for (let i = 0; i < wals.length; i++) {
      const dest = join(dir, `asof-${i}.db`)
      await (await SqliteFollowRestore.open(location, {db: dest, asOf: new Date(wals[i]!.time)})).run()
      const r = new Database(dest, {readonly: true})
      const rows = (r.prepare('SELECT count(*) AS c FROM t').get() as {c: number}).c
      r.close()
      // shipments in the same millisecond restore together: the count is that of the last one at that time
      const upTo = wals.filter((w) => w.time <= wals[i]!.time).reduce((a, w) => a + w.commits, 0)
      expect(rows).toBe(1 + upTo)
    }
    keep.close()
  })

  it('starts a new generation when the WAL was restarted while not followed, and when the database file is replaced', async () => {
    const {dir, db, conn} = walDb(3)
    conn.close()
    const keep = new Database(db, {readonly: true})
    const location = join(dir, 'follow')
    const insert = (sql: string) =>
      run(process.execPath, [
        '-e',
        `const D = require(${JSON.stringify(sqliteModule)}); const c = new D(${JSON.stringify(db)}, {timeout: 30000}); ${sql}`,
      ])
    const follow = async (until: (s: {kind: string; reason?: string}[]) => boolean) => {
      const seen: {kind: string; reason?: string; time: string}[] = []
      const follower = new SqliteFollower(
        {app: 'test', db},
        {location, pollMs: 5},
        {info() {}, note() {}, shipped: (x) => seen.push(x)},
      )
      const running = follower.run()
      // a follower that stopped early fails the test with its reason, not a wait for a shipment that never comes
      let ended: unknown
      running.then(
        (r) => (ended = r),
        (error) => (ended = error),
      )
      const waitFor = async (done: (s: {kind: string; reason?: string}[]) => boolean) => {
        while (!done(seen)) {
          expect({followerEnded: ended}).toEqual({followerEnded: undefined})
          await new Promise((r) => setTimeout(r, 5))
        }
      }
      return {seen, follower, running, waitFor, wait: () => waitFor(until)}
    }
    const first = await follow((s) => s.some((x) => x.kind === 'wal'))
    // its snapshot first: a commit made while it is taken is in the snapshot, never shipped as WAL
    await first.waitFor((s) => s.some((x) => x.kind === 'snapshot'))
    await insert(`c.prepare("INSERT INTO t (pad) VALUES ('a')").run()`)
    await first.wait()
    first.follower.stop('done')
    await first.running
    // while nobody follows: writes, a TRUNCATE checkpoint (the WAL is reset), more writes
    await insert(
      `c.prepare("INSERT INTO t (pad) VALUES ('b')").run(); c.pragma('wal_checkpoint(TRUNCATE)'); c.prepare("INSERT INTO t (pad) VALUES ('c')").run()`,
    )
    const second = await follow((s) => s.some((x) => x.kind === 'snapshot'))
    await second.wait()
    expect(second.seen[0]!.reason).toBe(
      'the WAL no longer continues the last generation (restarted while not followed)',
    )
    // the database file replaced under the running follower (a restore of the application's own)
    const copy = join(dir, 'replacement.db')
    await insert(
      `c.prepare("INSERT INTO t (pad) VALUES ('d')").run(); c.backup(${JSON.stringify(copy)}).then(() => c.close())`,
    )
    const {renameSync} = await import('node:fs')
    renameSync(copy, db)
    await second.waitFor((s) => s.some((x) => x.reason === 'the database file was replaced'))
    second.follower.stop('done')
    await second.running
    const dest = join(dir, 'newest.db')
    await (await SqliteFollowRestore.open(location, {db: dest})).run()
    const r = new Database(dest, {readonly: true})
    expect(r.prepare('SELECT pad FROM t WHERE id > 3 ORDER BY id').all()).toEqual([
      {pad: 'a'},
      {pad: 'b'},
      {pad: 'c'},
      {pad: 'd'},
    ])
    r.close()
    keep.close()
  })

  it('a WAL restarted over a tail never shipped: the tail is read under the write lock, no writer can overwrite it first', async () => {
    // The follower resumes at frame P; the log got frames P+1…M while nobody followed, a checkpoint copied them into
    // the database, and a writer restarted the log (a new log's first frames at 1…k, k ≤ P, the old tail still past
    // them). A writer appending to the new log while the follower reads the old tail would overwrite it: its
    // commits (rows tail-1…3) would be lost to the location, and every restore from then on broken.
    const {dir, db, conn} = walDb(1)
    // a connection that has read keeps the log from being removed when the others close
    const keep = new Database(db, {readonly: true})
    keep.prepare('SELECT count(*) FROM t').get()
    conn.close()
    const location = join(dir, 'follow')
    const other = (sql: string) =>
      run(process.execPath, [
        '-e',
        `const D = require(${JSON.stringify(sqliteModule)}); const c = new D(${JSON.stringify(db)}, {timeout: 30000}); c.pragma('wal_autocheckpoint = 0'); ${sql}`,
      ])
    const rows = (names: string[]) =>
      `c.transaction(() => { for (const n of ${JSON.stringify(names)}) c.prepare('INSERT INTO t (pad) VALUES (?)').run(n + ' ' + 'x'.repeat(3000)) })()`
    const first = new SqliteFollower({app: 'test', db}, {location, pollMs: 5, checkpointFrames: 100_000}, quiet)
    const firstRun = first.run()
    await other(rows(['one', 'two', 'three', 'four', 'five', 'six']))
    first.stop('done') // a clean stop ships everything committed
    await firstRun
    // while nobody follows: the tail, then a checkpoint that copies all of it into the database (no restart yet)
    await other(`${rows(['tail-1', 'tail-2', 'tail-3'])}; c.pragma('wal_checkpoint(PASSIVE)')`)
    let resumed = false
    let late: Promise<unknown> | undefined
    const second = new SqliteFollower(
      {app: 'test', db},
      {
        location,
        pollMs: 600_000, // only the final poll of stop() reads the log
        checkpointFrames: 100_000,
        onRestartSeen: async () => {
          // a writer appending ~100 frames to the new log, past frame P+1, while the old tail is still to be read
          late = other(`c.prepare('INSERT INTO t (pad) VALUES (?)').run('late ' + 'y'.repeat(400_000))`)
          await Promise.race([late, new Promise((r) => setTimeout(r, 2000))])
        },
      },
      {info: (m) => (resumed ||= m.startsWith('resuming generation')), note() {}},
    )
    const secondRun = second.run()
    while (!resumed) await new Promise((r) => setTimeout(r, 5))
    await other(rows(['restart'])) // the log restarts: its first frames overwrite the start of the old one
    second.stop('done')
    const result = await secondRun
    await late
    expect(late).toBeDefined() // the restarted log was seen
    expect(result.snapshots).toBe(0) // resumed and followed, no new generation
    const dest = join(dir, 'newest.db')
    await (await SqliteFollowRestore.open(location, {db: dest})).run()
    const r = new Database(dest, {readonly: true})
    const names = (r.prepare('SELECT pad FROM t WHERE id > 1 ORDER BY id').all() as {pad: string}[]).map(
      (x) => x.pad.split(' ')[0],
    )
    r.close()
    keep.close()
    expect(names).toEqual(['one', 'two', 'three', 'four', 'five', 'six', 'tail-1', 'tail-2', 'tail-3', 'restart'])
  })

  it('a checkpoint whose write lock fails other than busy (a read-only handle) stops the follower with that error', async () => {
    // only SQLITE_BUSY means "try at the next poll"; anything else of BEGIN IMMEDIATE is not swallowed
    const {dir, db, conn} = walDb(1)
    conn.close() // the log is checkpointed and removed: no checkpoint is due before the first shipment
    const keep = new Database(db, {readonly: true})
    const seen: {kind: string; commits: number}[] = []
    const follower = new SqliteFollower(
      {app: 'test', db},
      {location: join(dir, 'follow'), pollMs: 5, checkpointFrames: 1},
      {
        info() {},
        note() {},
        shipped: (s) => {
          seen.push(s)
          // the poll that shipped this goes on to its checkpoint; a swallowed error would end the run cleanly
          if (s.kind === 'wal') follower.stop('done')
        },
      },
    )
    const running = follower.run().then(
      () => 'no error',
      (e: {code?: string}) => e.code,
    )
    while (!seen.some((s) => s.kind === 'snapshot')) await new Promise((r) => setTimeout(r, 5))
    // the follower's write connection turns read-only: its BEGIN IMMEDIATE fails with SQLITE_READONLY
    const writer = (follower as unknown as {writer: Database.Database}).writer
    writer.pragma('query_only = ON')
    await run(process.execPath, [
      '-e',
      `const D = require(${JSON.stringify(sqliteModule)}); new D(${JSON.stringify(db)}, {timeout: 30000}).prepare('INSERT INTO t (pad) VALUES (?)').run('one')`,
    ])
    expect(await running).toBe('SQLITE_READONLY')
    expect(seen.map((s) => s.kind)).toEqual(['snapshot', 'wal'])
    expect(seen[1]?.commits).toBe(1)
    keep.close()
  })
})

const quiet = {info() {}, note() {}}

describe('SqliteFollower retention (--keep-generations)', () => {
  it('keeps the newest N generations, never the current one, and a kept moment still restores', async () => {
    const {dir, db, conn} = walDb(2)
    conn.close()
    const keep = new Database(db, {readonly: true})
    const location = join(dir, 'follow')
    const sql = (code: string) =>
      run(process.execPath, [
        '-e',
        `const D = require(${JSON.stringify(sqliteModule)}); const c = new D(${JSON.stringify(db)}, {timeout: 30000}); ${code}`,
      ])
    const generations: string[] = []
    const walTimes: string[] = []
    // one follow run per generation: insert a row, wait for it to be shipped, stop; then reset the WAL while not
    // followed, so the next run starts a new generation
    const once = async (pad: string, keepGenerations?: number) => {
      const seen: {kind: string; generation: string; time: string}[] = []
      const follower = new SqliteFollower(
        {app: 'test', db},
        {location, pollMs: 5, keepGenerations},
        {info() {}, note() {}, shipped: (x) => seen.push(x)},
      )
      const running = follower.run()
      while (!seen.some((x) => x.kind === 'snapshot')) await new Promise((r) => setTimeout(r, 5))
      await sql(`c.prepare("INSERT INTO t (pad) VALUES ('${pad}')").run()`)
      while (!seen.some((x) => x.kind === 'wal')) await new Promise((r) => setTimeout(r, 5))
      follower.stop('done')
      await running
      generations.push(seen.find((x) => x.kind === 'snapshot')!.generation)
      walTimes.push(seen.find((x) => x.kind === 'wal')!.time)
      await sql(`c.pragma('wal_checkpoint(TRUNCATE)')`)
    }
    await once('g1')
    await once('g2')
    await once('g3')
    expect(await listGenerations(location)).toEqual(generations)
    // a dry run plans the removal and changes nothing
    const planned = await new SqliteFollower({app: 'test', db}, {location, keepGenerations: 2}, quiet).plan()
    expect(planned.steps.filter((s) => s.op === 'remove').map((s) => s.target)).toEqual([
      join(location, 'generations', generations[0]!),
      join(location, 'generations/<older>'),
    ])
    expect(await listGenerations(location)).toEqual(generations)
    // the fourth run keeps the newest two: the one it starts and the one before it
    await once('g4', 2)
    expect(generations).toHaveLength(4)
    expect(await listGenerations(location)).toEqual(generations.slice(2))
    expect(readdirSync(join(location, 'generations')).sort()).toEqual(generations.slice(2))
    // a moment of the older kept generation restores: as of g3's shipment, the rows up to g3
    const dest = join(dir, 'asof.db')
    await (await SqliteFollowRestore.open(location, {db: dest, asOf: new Date(walTimes[2]!)})).run()
    const r = new Database(dest, {readonly: true})
    expect(r.prepare("SELECT pad FROM t WHERE pad LIKE 'g%' ORDER BY id").all()).toEqual([
      {pad: 'g1'},
      {pad: 'g2'},
      {pad: 'g3'},
    ])
    // keep 1: only the generation this run starts (the WAL was reset after g4) stays
    const follower = new SqliteFollower({app: 'test', db}, {location, pollMs: 5, keepGenerations: 1}, quiet)
    const running = follower.run()
    while ((await listGenerations(location)).length !== 1) await new Promise((r) => setTimeout(r, 5))
    follower.stop('done')
    await running
    const left = await listGenerations(location)
    expect(left).toHaveLength(1)
    expect(left[0]! > generations[3]!).toBe(true)
    r.close()
    keep.close()
  })

  it('a generation set aside by a killed removal is deleted by recover, and never listed meanwhile', async () => {
    const {dir, db, conn} = walDb(1)
    conn.close()
    const keep = new Database(db, {readonly: true})
    const location = join(dir, 'follow')
    const seen: {kind: string}[] = []
    const follower = new SqliteFollower(
      {app: 'test', db},
      {location, pollMs: 5},
      {info() {}, note() {}, shipped: (x) => seen.push(x)},
    )
    const running = follower.run()
    while (!seen.some((x) => x.kind === 'snapshot')) await new Promise((r) => setTimeout(r, 5))
    follower.stop('done')
    await running
    const [gen] = await listGenerations(location)
    // what a kill between the rename aside and the delete leaves
    const aside = join(location, 'generations', `20200101T000000000Z${REMOVING_SUFFIX}`)
    mkdirSync(aside)
    writeFileSync(join(aside, '00000000.snapshot.json'), '{}')
    expect(await listGenerations(location)).toEqual([gen])
    const lines = await new SqliteFollower({app: 'test', db}, {location}, quiet).recover()
    expect(lines).toEqual([`removed ${aside} (a generation retention had set aside)`])
    expect(readdirSync(join(location, 'generations'))).toEqual([gen])
    keep.close()
  })
})
