import {execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {createServer} from 'node:net'
import {dirname, join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {fixtureEnv, sqliteDump, treeListing} from './helpers.js'

/** The writer's last committed id (the file is rewritten in place: retry a read that caught it empty). */
function committed(file: string): number {
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
    if (text) return Number(text)
  }
}

const notBk = (rel: string) => rel === 'bk-manifest.json'

/**
 * Another process inserting tickets into `dbFile` (a web application's commits), writing its last committed id to
 * `progress`; `setup` runs first on its connection, `next` schedules the following insert.
 */
function ticketWriter(dbFile: string, progress: string, {setup = '', next}: {setup?: string; next: string}) {
  return spawn(
    process.execPath,
    [
      '-e',
      `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
       const fs = require('node:fs');
       const db = new D(${JSON.stringify(dbFile)}, {timeout: 30000});
       ${setup}
       const ins = db.prepare("INSERT INTO ticket (type, time, changetime, status, summary, description) VALUES ('defect', 1, 1, 'new', ?, ?)");
       let n = 0;
       const tick = () => { const r = ins.run('writer ' + n, 'x'.repeat(2000)); n++; fs.writeFileSync(${JSON.stringify(progress)}, String(r.lastInsertRowid)); if (n < 100000) ${next}; };
       tick();`,
    ],
    {stdio: 'ignore'},
  )
}

/** Waits (up to 10 s) until the writer has committed more than `rows` rows; returns its last committed id. */
async function commitsPast(progress: string, rows: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    if (existsSync(progress) && readFileSync(progress, 'utf8') && committed(progress) > rows) break
    await new Promise((r) => setTimeout(r, 20))
  }
  return committed(progress)
}

describe('bk trac hotcopy (SQLite)', () => {
  it("equals trac-admin's sqlite-hotcopy in file set and table contents", async () => {
    const env = fixtureEnv('sqlite-env')
    const reference = fixtureEnv('sqlite-hotcopy')
    const dest = join(tempDir(), 'copy')
    const r = await runBk(['trac', 'hotcopy', env, dest])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain('Hotcopy done.')
    // every path, type, mode and content identical, except the database file (compared by rows) and bk's manifest
    const skipDb = (rel: string) => notBk(rel) || rel === 'db/trac.db'
    const ours = treeListing(dest, skipDb)
    const theirs = treeListing(reference, skipDb)
    expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort())
    expect(ours).toEqual(theirs)
    expect(existsSync(join(dest, 'db/trac.db'))).toBe(true)
    expect(sqliteDump(join(dest, 'db/trac.db'))).toEqual(sqliteDump(join(reference, 'db/trac.db')))
    // trac.ini stays 0600 (it may hold a password)
    expect(statSync(join(dest, 'conf/trac.ini')).mode & 0o777).toBe(0o600)
    const manifest = JSON.parse(readFileSync(join(dest, 'bk-manifest.json'), 'utf8'))
    expect(manifest.application).toBe('trac')
    expect(manifest.extra.databaseVersion).toBe(45)
    expect(manifest.files.map((f: {path: string}) => f.path)).toContain('db/trac.db')
  })

  it('--json prints one document; --no-database copies no database', async () => {
    const env = fixtureEnv('sqlite-env')
    const dest = join(tempDir(), 'files-only')
    const r = await runBk(['trac', 'hotcopy', env, dest, '--no-database', '--json'])
    expect(r.exitCode).toBe(0)
    const result = r.json<{files: number; database?: unknown; engine: string}>()
    expect(result.database).toBeUndefined()
    expect(result.engine).toBe('sqlite')
    expect(existsSync(join(dest, 'db/trac.db'))).toBe(false)
    expect(existsSync(join(dest, 'conf/trac.ini'))).toBe(true)
  })

  it('keeps symlinks as symlinks and reports paths outside the env', async () => {
    const env = fixtureEnv('sqlite-env')
    const outside = tempDir()
    writeFileSync(join(outside, 'global.ini'), '[trac]\nbase_url = http://example.org/\n')
    writeFileSync(join(outside, 'authz'), '[/]\n* = r\n')
    const ini = readFileSync(join(env, 'conf/trac.ini'), 'utf8')
    writeFileSync(
      join(env, 'conf/trac.ini'),
      ini.replace('[inherit]\n', `[inherit]\nfile = ${join(outside, 'global.ini')}\n`) +
        `\n[authz_policy]\nauthz_file = ${join(outside, 'authz')}\n`,
    )
    symlinkSync('../files', join(env, 'htdocs/files-link'))
    const dest = join(tempDir(), 'copy')
    const r = await runBk(['trac', 'hotcopy', env, dest, '--include-external', '--json'])
    expect(r.exitCode).toBe(0)
    const result = r.json<{external: {kind: string; path: string}[]}>()
    expect(result.external.map((d) => d.kind).sort()).toEqual(['auth-file', 'inherited-config'])
    expect(lstatSync(join(dest, 'htdocs/files-link')).isSymbolicLink()).toBe(true)
    expect(readlinkSync(join(dest, 'htdocs/files-link'))).toBe('../files')
    expect(readFileSync(join(dest, 'bk-external', outside, 'authz'), 'utf8')).toBe('[/]\n* = r\n')
  })

  it('copies an SQLite database given by an absolute path outside the env, with ?params', async () => {
    const env = fixtureEnv('sqlite-env')
    const elsewhere = join(tempDir(), 'data', 'trac.db')
    mkdirSync(dirname(elsewhere))
    writeFileSync(elsewhere, readFileSync(join(env, 'db/trac.db')))
    const ini = readFileSync(join(env, 'conf/trac.ini'), 'utf8')
    writeFileSync(
      join(env, 'conf/trac.ini'),
      ini.replace('database = sqlite:db/trac.db', `database = sqlite:${elsewhere}?timeout=30`),
    )
    const dest = join(tempDir(), 'copy')
    const r = await runBk(['trac', 'hotcopy', env, dest, '--json'])
    expect(r.exitCode).toBe(0)
    const result = r.json<{database: {path: string; originalPath: string}}>()
    expect(result.database.path).toBe('db/trac.db')
    expect(result.database.originalPath).toBe(elsewhere)
    expect(sqliteDump(join(dest, 'db/trac.db'))).toEqual(sqliteDump(elsewhere))
  })

  it('copies rows still in the -wal while another process keeps inserting tickets', async () => {
    const env = fixtureEnv('sqlite-env')
    const dbFile = join(env, 'db/trac.db')
    const setup = new Database(dbFile)
    setup.pragma('journal_mode = WAL')
    setup.close()
    const progress = join(tempDir(), 'committed')
    // the writer never checkpoints: every row it commits stays in trac.db-wal
    const writer = ticketWriter(dbFile, progress, {
      setup: "db.pragma('wal_autocheckpoint = 0');",
      next: 'setImmediate(tick)',
    })
    try {
      // wait until it has committed a good number of rows
      const committedBefore = await commitsPast(progress, 300)
      expect(committedBefore).toBeGreaterThan(300)
      expect(statSync(`${dbFile}-wal`).size).toBeGreaterThan(0)
      const dest = join(tempDir(), 'copy')
      const r = await runBk(['trac', 'hotcopy', env, dest])
      expect(r.stderr).toBe('')
      expect(r.exitCode).toBe(0)
      const committedAfter = committed(progress)
      expect(existsSync(join(dest, 'db/trac.db-wal'))).toBe(false)
      const copy = new Database(join(dest, 'db/trac.db'), {readonly: true})
      try {
        expect(copy.pragma('integrity_check', {simple: true})).toBe('ok')
        expect(copy.pragma('journal_mode', {simple: true})).toBe('delete')
        const ids = new Set(copy.prepare('SELECT id FROM ticket').pluck().all() as number[])
        for (let id = 61; id <= committedBefore; id++) expect(ids.has(id)).toBe(true)
        expect(Math.max(...ids)).toBeLessThanOrEqual(committedAfter)
      } finally {
        copy.close()
      }
    } finally {
      writer.kill()
    }
  })
})

describe('bk trac hotcopy (SQLite, rollback journal, live writer)', () => {
  it("copies a consistent database while another process commits tickets; the manifest hashes are the copy's", async () => {
    const env = fixtureEnv('sqlite-env')
    const dbFile = join(env, 'db/trac.db')
    const progress = join(tempDir(), 'committed')
    // Trac's default journal mode; a commit every few ms, as a web application makes them
    const writer = ticketWriter(dbFile, progress, {next: 'setTimeout(tick, 2)'})
    try {
      const committedBefore = await commitsPast(progress, 100)
      expect(committedBefore).toBeGreaterThan(100)
      const dest = join(tempDir(), 'copy')
      const r = await runBk(['trac', 'hotcopy', env, dest])
      expect(r.stderr).toBe('')
      expect(r.exitCode).toBe(0)
      const committedAfter = committed(progress)
      const copy = new Database(join(dest, 'db/trac.db'), {readonly: true})
      try {
        expect(copy.pragma('integrity_check', {simple: true})).toBe('ok')
        expect(copy.pragma('journal_mode', {simple: true})).toBe('delete')
        const ids = copy.prepare('SELECT id FROM ticket WHERE id > 60 ORDER BY id').pluck().all() as number[]
        // one snapshot: every ticket up to the last one copied, none missing in between
        expect(ids.length).toBe(ids.at(-1)! - 60)
        expect(ids.at(-1)).toBeGreaterThanOrEqual(committedBefore)
        expect(ids.at(-1)).toBeLessThanOrEqual(committedAfter)
      } finally {
        copy.close()
      }
      const manifest = JSON.parse(readFileSync(join(dest, 'bk-manifest.json'), 'utf8')) as {
        files: {path: string; size: number; sha256: string}[]
      }
      expect(manifest.files.map((f) => f.path)).toContain('db/trac.db')
      for (const f of manifest.files) {
        const bytes = readFileSync(join(dest, f.path))
        expect({path: f.path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex')}).toEqual(f)
      }
    } finally {
      writer.kill()
    }
  })
})

describe('bk trac hotcopy: bad inputs', () => {
  afterAll(() => {})

  it('refuses an existing destination with Trac’s wording and leaves it alone', async () => {
    const env = fixtureEnv('sqlite-env')
    const dest = tempDir()
    writeFileSync(join(dest, 'keep.txt'), 'mine')
    const r = await runBk(['trac', 'hotcopy', env, dest])
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr).toMatch(/^bk: hotcopy can't overwrite existing '.*'/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(readdirSync(dest)).toEqual(['keep.txt'])
  })

  it('says when the directory is not an environment, or has the wrong VERSION', async () => {
    const notEnv = tempDir()
    const dest = join(tempDir(), 'copy')
    let r = await runBk(['trac', 'hotcopy', notEnv, dest])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: no Trac environment found at .*VERSION/)
    expect(existsSync(dest)).toBe(false)
    const env = fixtureEnv('sqlite-env')
    writeFileSync(join(env, 'VERSION'), 'Trac Environment Version 2\n')
    r = await runBk(['trac', 'hotcopy', env, dest])
    expect(r.stderr).toMatch(/^bk: unknown Trac environment type 'Trac Environment Version 2'/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(existsSync(dest)).toBe(false)
  })

  it('skips a socket and a FIFO in the env (trac-admin crashed or hung on them) and says so', async () => {
    const env = fixtureEnv('sqlite-env')
    const server = createServer().listen(join(env, 'log/tracd.sock'))
    await new Promise((r) => server.once('listening', r))
    execFileSync('mkfifo', [join(env, 'log/pipe')])
    try {
      const dest = join(tempDir(), 'copy')
      const r = await runBk(['trac', 'hotcopy', env, dest, '--json'])
      expect(r.exitCode, r.stderr).toBe(0)
      expect(r.json<{skipped: string[]}>().skipped.sort()).toEqual(['log/pipe', 'log/tracd.sock'])
      expect(readdirSync(join(dest, 'log'))).toEqual(['trac.log'])
    } finally {
      server.close()
    }
  })

  it('removes the partial destination when the database copy fails', async () => {
    const env = fixtureEnv('sqlite-env')
    writeFileSync(
      join(env, 'db/trac.db'),
      'this is not a database, just text that is long enough to look like a header...',
    )
    const parent = tempDir()
    const r = await runBk(['trac', 'hotcopy', env, join(parent, 'copy')])
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/not an SQLite database|file is not a database/)
    expect(readdirSync(parent)).toEqual([])
    expect(readdirSync(dirname(env)).filter((n) => n.includes('bk-'))).toEqual([])
  })
})
