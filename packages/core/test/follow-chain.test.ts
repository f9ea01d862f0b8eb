// The files of a follow generation must continue each other: restore replays only an unbroken chain (a missing
// segment is commits the location lost, and a database rebuilt past it lacks them), and --verify reports each break.
import {execFile} from 'node:child_process'
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {SqliteFollower, SqliteFollowRestore, verifySqliteFollow} from '@bkcli/core'
import {tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {chainBreak, chainBreaks} from '../src/follow/sqlite/chain.js'
import type {FollowManifest, WalPosition} from '../src/follow/sqlite/location.js'

const run = promisify(execFile)
const sqliteModule = createRequire(import.meta.url).resolve('better-sqlite3')

const at = (salt1: number | undefined, frame: number, cksum: [number, number] = [frame, frame * 7]): WalPosition => ({
  salt1,
  salt2: salt1 === undefined ? undefined : 99,
  pageSize: 4096,
  frame,
  cksum,
})
function file(seq: number, kind: 'snapshot' | 'wal', after: WalPosition, before?: WalPosition): FollowManifest {
  const name = `${String(seq).padStart(8, '0')}.${kind === 'wal' ? 'wal' : 'snapshot.db'}`
  return {
    kind,
    seq,
    time: `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`,
    polledAt: '2026-01-01T00:00:00.000Z',
    file: name,
    sha256: '',
    bytes: 0,
    pageSize: 4096,
    db: {dev: 1, ino: 1},
    after,
    ...(before ? {before} : {}),
  }
}

describe('chainBreak', () => {
  const snap = file(0, 'snapshot', at(7, 3))
  it('accepts a segment that starts where the file before it ended, or at the first frame of a new epoch', () => {
    expect(chainBreak(snap, file(1, 'wal', at(7, 9), at(7, 3)))).toBeUndefined()
    expect(chainBreak(snap, file(1, 'wal', at(8, 4), at(8, 0)))).toBeUndefined()
    expect(chainBreak(file(0, 'snapshot', at(undefined, 0)), file(1, 'wal', at(5, 2), at(5, 0)))).toBeUndefined()
    expect(chainBreak(file(3, 'wal', at(7, 9), at(7, 3)), file(4, 'snapshot', at(7, 12)))).toBeUndefined()
  })
  it('names a missing sequence number, a repeated one, a moved start, another checksum, a new epoch begun late', () => {
    expect(chainBreak(snap, file(2, 'wal', at(7, 9), at(7, 3)))).toBe(
      'file 00000001 is missing (between 00000000.snapshot.db and 00000002.wal)',
    )
    expect(chainBreak(snap, file(4, 'wal', at(7, 9), at(7, 3)))).toMatch(/^files 00000001-00000003 are missing/)
    expect(chainBreak(file(1, 'wal', at(7, 5), at(7, 3)), file(1, 'wal', at(7, 9), at(7, 5)))).toMatch(/repeats/)
    expect(chainBreak(snap, file(1, 'wal', at(7, 9), at(7, 5)))).toBe(
      '00000001.wal starts at WAL frame 5, but 00000000.snapshot.db ended at frame 3',
    )
    expect(chainBreak(snap, file(1, 'wal', at(7, 9), at(7, 3, [1, 2])))).toMatch(/frame 3 with another checksum$/)
    expect(chainBreak(snap, file(1, 'wal', at(8, 9), at(8, 2)))).toBe(
      '00000001.wal starts at frame 2 of a WAL epoch that no earlier file began',
    )
    expect(chainBreak(snap, {...file(1, 'wal', at(7, 9)), before: undefined})).toMatch(/does not say where/)
  })
  it('a generation must begin with its first snapshot', () => {
    expect(chainBreaks([file(1, 'wal', at(7, 9), at(7, 3))])).toEqual([
      'the generation does not begin with its snapshot 00000000.snapshot.db',
    ])
  })
})

describe('a follow location with a segment lost', () => {
  it('restore refuses the newest state and names the gap; --as-of before it restores; --verify reports it', async () => {
    const dir = tempDir('bk-chain-')
    const db = join(dir, 'a.db')
    const conn = new Database(db)
    conn.pragma('journal_mode = WAL')
    conn.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)')
    conn.close()
    const keep = new Database(db, {readonly: true}) // the WAL stays while the writers come and go
    const location = join(dir, 'follow')
    const seen: {time: string; kind: string; commits: number}[] = []
    const follower = new SqliteFollower(
      {app: 'test', db},
      {location, pollMs: 5},
      {info() {}, note() {}, shipped: (s) => seen.push(s)},
    )
    const running = follower.run()
    for (let i = 0; i < 6; i++) {
      const before = seen.filter((s) => s.kind === 'wal').length
      await run(process.execPath, [
        '-e',
        `const D = require(${JSON.stringify(sqliteModule)}); new D(${JSON.stringify(db)}, {timeout: 30000}).prepare('INSERT INTO t (pad) VALUES (?)').run('row ${i}')`,
      ])
      while (seen.filter((s) => s.kind === 'wal').length === before) await new Promise((r) => setTimeout(r, 2))
      await new Promise((r) => setTimeout(r, 3)) // each shipment its own millisecond: --as-of tells them apart
    }
    follower.stop('done')
    await running
    keep.close()
    const gens = readdirSync(join(location, 'generations'))
    expect(gens).toHaveLength(1)
    const gen = join(location, 'generations', gens[0]!)
    const wals = readdirSync(gen)
      .filter((n) => /^\d{8}\.wal$/.test(n))
      .sort()
    expect(wals.length).toBe(6)
    // the fourth segment lost, file and manifest (a damaged disk, a careless cleanup)
    const lost = wals[3]!
    const lastBefore = JSON.parse(readFileSync(join(gen, `${wals[2]}.json`), 'utf8')) as FollowManifest
    rmSync(join(gen, lost))
    rmSync(join(gen, `${lost}.json`))

    const whole = join(dir, 'whole.db')
    await expect(SqliteFollowRestore.open(location, {db: whole})).rejects.toThrow(
      `file ${lost.slice(0, 8)} is missing (between ${wals[2]} and ${wals[4]}); the location lost commits there (run --verify). --as-of ${lastBefore.commits!.at(-1)!.time}`,
    )
    expect(readdirSync(dir)).not.toContain('whole.db')

    const early = join(dir, 'early.db')
    await (await SqliteFollowRestore.open(location, {db: early, asOf: new Date(lastBefore.time)})).run()
    const r = new Database(early, {readonly: true})
    expect(r.prepare('SELECT pad FROM t ORDER BY id').all()).toEqual([0, 1, 2].map((i) => ({pad: `row ${i}`})))
    r.close()

    const verified = await verifySqliteFollow(location)
    expect(verified.ok).toBe(false)
    expect(verified.problems).toEqual([
      `${gen}: file ${lost.slice(0, 8)} is missing (between ${wals[2]} and ${wals[4]})`,
    ])

    // a segment whose manifest says it starts elsewhere than where the one before it ended
    const moved = JSON.parse(readFileSync(join(gen, `${wals[2]}.json`), 'utf8')) as FollowManifest
    moved.before = {...moved.before!, frame: moved.before!.frame + 1}
    writeFileSync(join(gen, `${wals[2]}.json`), JSON.stringify(moved))
    await expect(
      SqliteFollowRestore.open(location, {db: join(dir, 'moved.db'), asOf: new Date(lastBefore.time)}),
    ).rejects.toThrow(`${wals[2]} starts at WAL frame ${moved.before.frame}, but ${wals[1]} ended at frame`)
  })
})
