// A restore from a follow location builds each followed folder from its objects: every content checked against the
// sha256 it was shipped with, its mtime given back, and the folder flushed to disk before the commit renames it in.
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {SqliteFollower, SqliteFollowRestore, type SqliteShipment} from '@bkcli/core'
import {tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterEach, describe, expect, it} from 'vitest'
import {onPath, restorePath} from './archive-helpers.js'

afterEach(restorePath)

const FILES: Record<string, string> = {
  'a/1/report.txt': 'the first attachment\n',
  'a/2/photo.bin': 'x'.repeat(70_000),
  'b/notes.md': '# notes\n',
}
const MTIME = new Date('2025-03-04T05:06:07.000Z')

/** A WAL database and a folder of files, followed into a location until the folder was shipped once. */
async function followed(): Promise<{dir: string; location: string}> {
  const dir = tempDir()
  const db = join(dir, 'app.db')
  const conn = new Database(db)
  conn.pragma('journal_mode = WAL')
  conn.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('one')")
  const att = join(dir, 'att')
  for (const [path, body] of Object.entries(FILES)) {
    mkdirSync(join(att, path, '..'), {recursive: true})
    writeFileSync(join(att, path), body)
    utimesSync(join(att, path), MTIME, MTIME)
  }
  const location = join(dir, 'follow')
  const shipped: SqliteShipment[] = []
  const follower = new SqliteFollower(
    {app: 'test', db, folders: [{name: 'att', dir: att}]},
    {location, pollMs: 5, filesInterval: 0.01},
    {info() {}, note() {}, shipped: (s) => shipped.push(s)},
  )
  const running = follower.run()
  while (!shipped.some((s) => s.kind === 'files')) await new Promise((r) => setTimeout(r, 5))
  follower.stop('done')
  await running
  conn.close()
  return {dir, location}
}

const objectOf = (location: string, body: string) =>
  join(location, 'files', 'att', 'objects', createHash('sha256').update(body).digest('hex'))

describe('restore of a followed folder', () => {
  it('gives back every file with its content and mtime, the folder flushed before it is renamed in', async () => {
    const {dir, location} = await followed()
    const log = join(dir, 'sync.log')
    onPath(dir, {sync: `echo "$*" >> '${log}'\nexec "$REAL" "$@"`})
    const target = join(dir, 'restored')
    const result = await (
      await SqliteFollowRestore.open(location, {
        db: join(target, 'app.db'),
        folders: [{name: 'att', dir: join(target, 'att')}],
      })
    ).run()
    expect(result.files).toBe(3)
    for (const [path, body] of Object.entries(FILES)) {
      expect(readFileSync(join(target, 'att', path), 'utf8')).toBe(body)
      expect(statSync(join(target, 'att', path)).mtime.toISOString()).toBe(MTIME.toISOString())
    }
    // the folder's stage, by name, flushed (syncfs through `sync -f`) before the commit
    expect(readFileSync(log, 'utf8')).toMatch(/^-f -- .*\/\.att\.bk-follow-stage-\d+$/m)
  })

  it('refuses a damaged or missing object, naming it and the file it holds, and changes nothing', async () => {
    const {dir, location} = await followed()
    const target = join(dir, 'restored')
    const open = () =>
      SqliteFollowRestore.open(location, {
        db: join(target, 'app.db'),
        folders: [{name: 'att', dir: join(target, 'att')}],
      })
    const photo = objectOf(location, FILES['a/2/photo.bin']!)
    const bytes = readFileSync(photo)
    bytes.writeUInt8(bytes.readUInt8(12345) ^ 1, 12345)
    writeFileSync(photo, bytes)
    await expect((await open()).run()).rejects.toThrow(
      `${photo} does not match its sha256 (the content of a/2/photo.bin); the location is damaged (run --verify)`,
    )
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
    const notes = objectOf(location, FILES['b/notes.md']!)
    writeFileSync(photo, FILES['a/2/photo.bin']!)
    rmSync(notes)
    await expect((await open()).run()).rejects.toThrow(
      `${notes} is missing (the content of b/notes.md); the location is damaged (run --verify)`,
    )
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
    // a folder where the object should be: damaged as well, not a raw EISDIR
    mkdirSync(notes)
    await expect((await open()).run()).rejects.toThrow(
      `${notes} is not a file (the content of b/notes.md); the location is damaged (run --verify)`,
    )
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
  })

  it('refuses a damaged snapshot, naming it, and leaves nothing behind', async () => {
    const {dir, location} = await followed()
    const gens = join(location, 'generations')
    const snapshot = join(gens, readdirSync(gens)[0]!, '00000000.snapshot.db')
    const bytes = readFileSync(snapshot)
    bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100)
    writeFileSync(snapshot, bytes)
    const target = join(dir, 'restored')
    const restore = await SqliteFollowRestore.open(location, {
      db: join(target, 'app.db'),
      folders: [{name: 'att', dir: join(target, 'att')}],
    })
    await expect(restore.run()).rejects.toThrow(
      `${snapshot} does not match its manifest's sha256; the location is damaged (run --verify)`,
    )
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
  })

  it('lets the copies under way end before a failure outside them removes the stage', async () => {
    const {dir, location} = await followed()
    // a later scan: files being copied when the folder of the last one cannot be made (a name too long)
    const entries = []
    for (let i = 0; i < 24; i++) {
      const body = randomBytes(2 * 1024 * 1024)
      const sha256 = createHash('sha256').update(body).digest('hex')
      writeFileSync(join(location, 'files', 'att', 'objects', sha256), body)
      entries.push({path: `big/${i}.bin`, sha256, bytes: body.length})
    }
    entries.push({...entries[0]!, path: `${'n'.repeat(300)}/last.bin`})
    const logs = join(location, 'files', 'att', 'log')
    const seq = readdirSync(logs).length + 1
    writeFileSync(
      join(logs, `${String(seq).padStart(8, '0')}.json`),
      JSON.stringify({seq, time: new Date().toISOString(), entries}),
    )
    const target = join(dir, 'restored')
    const restore = await SqliteFollowRestore.open(location, {
      db: join(target, 'app.db'),
      folders: [{name: 'att', dir: join(target, 'att')}],
    })
    await expect(restore.run()).rejects.toThrow(/ENAMETOOLONG/)
    // the failure itself, not the removal of a stage a copy was still writing into (ENOTEMPTY, the stage left)
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
    await new Promise((r) => setTimeout(r, 200))
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
  })

  it('refuses a log naming a path outside the folder before writing anything', async () => {
    const {dir, location} = await followed()
    const sha256 = createHash('sha256').update(FILES['b/notes.md']!).digest('hex')
    const logs = join(location, 'files', 'att', 'log')
    for (const path of ['../escaped.txt', '/abs.txt', 'a/../../up.txt']) {
      const seq = readdirSync(logs).length + 1
      const log = join(logs, `${String(seq).padStart(8, '0')}.json`)
      writeFileSync(log, JSON.stringify({seq, time: new Date().toISOString(), entries: [{path, sha256, bytes: 8}]}))
      const target = join(dir, 'restored')
      const restore = await SqliteFollowRestore.open(location, {
        db: join(target, 'app.db'),
        folders: [{name: 'att', dir: join(target, 'att')}],
      })
      const refusal = `${logs} names ${JSON.stringify(path)}, not a file inside the folder; the location is damaged (run --verify)`
      // --dry-run's plan refuses as the run does
      await expect(restore.plan()).rejects.toThrow(refusal)
      expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
      await expect(restore.run()).rejects.toThrow(refusal)
      expect(existsSync(target) ? readdirSync(target) : []).toEqual([])
      expect(existsSync(join(dir, 'up.txt'))).toBe(false)
      rmSync(log)
    }
  })
})
