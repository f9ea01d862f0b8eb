// `bk roundup follow` on the fixture tracker (Roundup's own SQLite schema, WAL mode) under a live writer, killed
// with SIGKILL once and restarted, stopped with SIGTERM; then `bk roundup restore <location> <home>` over the
// live home: every transaction committed before SIGTERM was sent is there, the stale -wal/-shm of the replaced
// database are moved away with it (they must never meet the new file), files are shipped as they appear.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {FollowerProcess, runBk, SqliteWriter, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {fixtureTree} from './helpers.js'

const sqliteModule = createRequire(import.meta.url).resolve('better-sqlite3')
const BASE = 100_000

describe('bk roundup follow (SQLite, WAL)', () => {
  it('restores every commit made before the stop, and the files, over the live home', async () => {
    const home = fixtureTree('sqlite-home')
    const db = join(home, 'db', 'db')
    const writer = new SqliteWriter(sqliteModule, db, {
      statements: [
        `INSERT INTO _issue (id, _title, _creation, _activity, _creator, _actor, _status, _priority) VALUES (${BASE} + $N, 'follow $N', '2026-12-04.00:00:00', '2026-12-04.00:00:00', 1, 1, 1, 3)`,
        `INSERT INTO _msg (id, _content, _summary) VALUES (${BASE} + $N, '$PAD', 'm$N')`,
        `UPDATE ids SET num = ${BASE} + $N + 1 WHERE name = 'issue'`,
      ],
    })
    const location = join(tempDir('bk-roundup-follow-'), 'follow')
    const args = [
      'roundup',
      'follow',
      home,
      '--location',
      location,
      '--json',
      '--interval',
      '0.05',
      '--checkpoint-frames',
      '80',
    ]
    const first = new FollowerProcess(args)
    await first.until(() => first.shipments.filter((s) => s.kind === 'wal').length >= 3, 'three WAL shipments')
    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL')
    mkdirSync(join(home, 'db', 'files', 'file', '9'), {recursive: true})
    writeFileSync(join(home, 'db', 'files', 'file', '9', 'file9999'), 'a file that appeared\n')
    const second = new FollowerProcess(args)
    await second.until(() => second.shipments.filter((s) => s.kind === 'wal').length >= 3, 'three more WAL shipments')
    const stopAt = Date.now()
    expect((await second.stop('SIGTERM')).code, second.stderr).toBe(0)
    const txns = await writer.stop()
    expect(second.stdout).toContain('"kind":"files"')

    const status = await runBk(['roundup', 'follow', '--location', location, '--status'])
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/\d+ file\(s\) in files/)

    // an application killed mid-life leaves a -wal holding a commit the follower never saw
    const crashed = spawnSync(process.execPath, [
      '-e',
      `const D = require(${JSON.stringify(sqliteModule)}); const c = new D(${JSON.stringify(db)}); c.exec("INSERT INTO _issue (id, _title) VALUES (99999, 'unshipped')"); process.kill(process.pid, 'SIGKILL')`,
    ])
    expect(crashed.signal).toBe('SIGKILL')
    expect(existsSync(join(home, 'db', 'db-wal'))).toBe(true)

    const restored = await runBk(['roundup', 'restore', location, home, '--yes'])
    expect(restored.exitCode, restored.stderr).toBe(0)
    expect(restored.stdout).toContain('integrity_check ok')
    const names = readdirSync(join(home, 'db'))
    expect(names.filter((n) => n.startsWith('db.old-')).length).toBe(1) // the replaced database, kept
    expect(names.filter((n) => n.startsWith('db-wal.old-')).length).toBe(1) // its WAL went with it
    expect(existsSync(join(home, 'db', 'db-wal'))).toBe(false)
    const conn = new Database(db, {readonly: true})
    const ids = conn
      .prepare(`SELECT id - ${BASE} AS n FROM _issue WHERE id > ${BASE} ORDER BY id`)
      .all()
      .map((r) => (r as {n: number}).n)
    const msgs = (conn.prepare(`SELECT count(*) AS c FROM _msg WHERE id > ${BASE}`).get() as {c: number}).c
    expect(conn.prepare('SELECT count(*) AS c FROM _issue WHERE id = 99999').get()).toEqual({c: 0})
    const next = (conn.prepare(`SELECT num FROM ids WHERE name = 'issue'`).get() as {num: number}).num
    conn.close()
    expect(ids).toEqual(ids.map((_, i) => i + 1))
    expect(msgs).toBe(ids.length)
    expect(next).toBe(BASE + ids.length + 1)
    const before = txns.filter((t) => t.e < stopAt).length
    expect(before).toBeGreaterThan(20)
    expect(ids.length).toBeGreaterThanOrEqual(before)
    expect(readFileSync(join(home, 'db', 'files', 'file', '9', 'file9999'), 'utf8')).toBe('a file that appeared\n')
  }, 300_000)
})
