/**
 * `bk roundup migrate-backend` (sqlite → PostgreSQL, sqlite → MySQL) killed (SIGKILL) at each of its own crash points:
 * the home is exactly the old one (same bytes) or exactly the new one (config.ini on the new database, every row
 * there, the old home kept whole under its own name); the next run says what it cleans up (the half-made database
 * dropped, the stage removed) and migrates; nothing of the killed run stays behind: no stage, no marker, no
 * database of its own, no scratch copy of the tracker's rows.
 */
import {createHash} from 'node:crypto'
import {existsSync, lstatSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {dropMyDb, dropPgDb, fixtureTree, keptCopies, mysqlq, psql, uniqueName} from './helpers.js'

/** Content of a tree: relative paths, types and file bytes (sqlite's -wal/-shm left out: a reader may leave them). */
function digest(root: string): string {
  const hash = createHash('sha256')
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (/-(wal|shm)$/.test(name)) continue
      const path = join(dir, name)
      if (lstatSync(path).isDirectory()) {
        hash.update(`d ${rel}${name}\n`)
        walk(path, `${rel}${name}/`)
      } else hash.update(`f ${rel}${name} ${createHash('sha256').update(readFileSync(path)).digest('hex')}\n`)
    }
  }
  walk(root, '')
  return hash.digest('hex')
}

/** What bk left beside the home: only the home and its kept copies may be there. */
function strays(home: string): string[] {
  const base = home.split('/').pop() as string
  return readdirSync(join(home, '..')).filter((n) => n !== base && !n.startsWith(`${base}.old-`))
}

/** The tables whose rows the checks count: every class, its journal, and the full-text index. */
const CLASSES = ['priority', 'status', 'keyword', 'query', 'user', 'msg', 'file', 'issue']
const TABLES = [...CLASSES.flatMap((c) => [`_${c}`, `${c}__journal`]), '__words', '__textids']

function sqliteCounts(db: string): Record<string, number> {
  const conn = new Database(db, {readonly: true})
  try {
    return Object.fromEntries(
      TABLES.map((t) => [t, (conn.prepare(`select count(*) as n from ${t}`).get() as {n: number}).n]),
    )
  } finally {
    conn.close()
  }
}

interface Server {
  to: 'postgresql' | 'mysql'
  url(db: string): string
  /** Databases whose name starts with the prefix, sorted. */
  list(prefix: string): string[]
  counts(db: string): Record<string, number>
  drop(db: string): void
}

const SERVERS: Server[] = [
  {
    to: 'postgresql',
    url: (db) => `postgresql://root@127.0.0.1:5432/${db}`,
    list: (prefix) =>
      psql(`select datname from pg_database where datname like '${prefix}%' order by 1`).split('\n').filter(Boolean),
    counts: (db) => Object.fromEntries(TABLES.map((t) => [t, Number(psql(`select count(*) from ${t}`, db).trim())])),
    drop: dropPgDb,
  },
  {
    to: 'mysql',
    url: (db) => `mysql://root@127.0.0.1:3306/${db}`,
    list: (prefix) =>
      mysqlq(`select schema_name from information_schema.schemata where schema_name like '${prefix}%' order by 1`)
        .split('\n')
        .filter(Boolean),
    counts: (db) =>
      Object.fromEntries(TABLES.map((t) => [t, Number(mysqlq(`select count(*) from \`${t}\``, db).trim())])),
    drop: dropMyDb,
  },
]

const POINTS = ['roundup-migrate:database-created', 'roundup-migrate:staged', 'roundup-migrate:committed'] as const

describe('bk roundup migrate-backend killed at each crash point', () => {
  const made: [Server, string][] = []
  afterAll(() => {
    for (const [server, prefix] of made) for (const db of server.list(prefix)) server.drop(db)
  })

  for (const server of SERVERS) {
    for (const point of POINTS) {
      it(`→ ${server.to}, ${point}: old or new, the next run cleans up and migrates, nothing left behind`, async () => {
        const home = fixtureTree('sqlite-home')
        const oldDigest = digest(home)
        const oldConfig = readFileSync(join(home, 'config.ini'), 'utf8')
        const rows = sqliteCounts(join(home, 'db', 'db'))
        const prefix = uniqueName('bkmc')
        const first = `${prefix}_a`
        const second = `${prefix}_b`
        made.push([server, prefix])
        const pw = join(tempDir(), 'pw')
        writeFileSync(pw, '\n', {mode: 0o600})
        // the run's own temp folder: a scratch copy of the tracker's rows would show up here
        const tmp = tempDir('bk-mc-tmp-')
        const argv = (db: string) => [
          'roundup',
          'migrate-backend',
          home,
          '--to',
          server.to,
          '--url',
          server.url(db),
          ...(server.to === 'mysql' ? ['--password-file', pw] : []),
          '--yes',
        ]
        expect(server.list(prefix)).toEqual([])

        const crashed = await runBk(argv(first), {env: {BK_CRASH_AT: point, TMPDIR: tmp}})
        expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
        // no copy of the tracker's rows left in the temp folder, whatever the point
        expect(readdirSync(tmp)).toEqual([])

        if (point === 'roundup-migrate:committed') {
          // swapped: the home is the new one, complete; the old one kept whole
          expect(readFileSync(join(home, 'config.ini'), 'utf8')).toMatch(
            new RegExp(`\\nbackend = ${server.to}\\n[^[]*\\nname = ${first}\\n`),
          )
          expect(server.counts(first)).toEqual(rows)
          expect(keptCopies(home).map(digest)).toEqual([oldDigest])
          expect(server.list(prefix)).toEqual([first])
          // the next run on the home (a backup) removes the dead run's marker; the live database stays
          const location = join(tempDir(), 'backups')
          const backup = await runBk(['roundup', 'backup', home, '--location', location])
          expect(backup.exitCode, backup.stderr).toBe(0)
          expect(strays(home)).toEqual([])
          expect(server.list(prefix)).toEqual([first])
          expect(server.counts(first)).toEqual(rows)
          // migrating again to the same backend is refused, naming why
          const again = await runBk(argv(first))
          expect(again.exitCode).toBe(1)
          expect(again.stderr).toContain(`already uses the ${server.to} backend`)
          return
        }

        // not swapped: the home is the old one to the byte, the half-made database still there
        expect(digest(home)).toBe(oldDigest)
        expect(readFileSync(join(home, 'config.ini'), 'utf8')).toBe(oldConfig)
        expect(keptCopies(home)).toEqual([])
        expect(server.list(prefix)).toEqual([first])
        expect(strays(home).some((n) => n.includes('.bk-stage-'))).toBe(true)

        // the next run (another database name: the first must go, not be reused) cleans up, says so, migrates
        const next = await runBk(argv(second), {env: {TMPDIR: tmp}})
        expect(next.exitCode, next.stderr).toBe(0)
        expect(next.stderr).toMatch(
          new RegExp(`warning: dropped ${server.to}://.*${first}.*made by an interrupted run`),
        )
        expect(next.stderr).toMatch(/warning: removed .*\.bk-stage-\d+, left by an interrupted run/)
        expect(server.list(prefix)).toEqual([second])
        expect(server.counts(second)).toEqual(rows)
        expect(readFileSync(join(home, 'config.ini'), 'utf8')).toMatch(
          new RegExp(`\\nbackend = ${server.to}\\n[^[]*\\nname = ${second}\\n`),
        )
        const kept = keptCopies(home)
        expect(kept.map(digest)).toEqual([oldDigest])
        expect(next.stdout).toContain(`the old one is kept as ${kept[0]}.`)
        expect(strays(home)).toEqual([])
        expect(readdirSync(tmp)).toEqual([])
      }, 60_000)
    }
  }
})

describe('bk roundup migrate-backend killed inside its swap (core commit points)', () => {
  const server = SERVERS[0] as Server
  const prefixes: string[] = []
  afterAll(() => {
    for (const prefix of prefixes) for (const db of server.list(prefix)) server.drop(db)
  })

  for (const point of ['commit:journal', 'commit:aside']) {
    it(`→ postgresql, ${point}: the same command run again finishes the swap and says so`, async () => {
      const home = fixtureTree('sqlite-home')
      const oldDigest = digest(home)
      const rows = sqliteCounts(join(home, 'db', 'db'))
      const prefix = uniqueName('bkmc')
      prefixes.push(prefix)
      const db = `${prefix}_a`
      const argv = ['roundup', 'migrate-backend', home, '--to', 'postgresql', '--url', server.url(db), '--yes']
      const crashed = await runBk(argv, {env: {BK_CRASH_AT: point}})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
      expect(existsSync(join(home, '..', '.sqlite-home.bk-commit.json'))).toBe(true)
      if (point === 'commit:aside') {
        // between the two renames: the old home already at its kept name, no home at the path
        expect(existsSync(home)).toBe(false)
        expect(keptCopies(home).map(digest)).toEqual([oldDigest])
      } else expect(digest(home)).toBe(oldDigest)
      // --dry-run shows the finishing swap and changes nothing
      const dry = await runBk([...argv, '--dry-run'])
      expect(dry.exitCode, dry.stderr).toBe(0)
      expect(dry.stdout).toContain(`finish the swap of ${home} that a killed run left`)
      expect(existsSync(join(home, '..', '.sqlite-home.bk-commit.json'))).toBe(true)
      expect(existsSync(home)).toBe(point === 'commit:journal')

      const next = await runBk(argv)
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/warning: finished a swap interrupted at its commit/)
      expect(next.stdout).toContain(`Finished the migration a killed run left: ${home} uses postgresql`)
      expect(readFileSync(join(home, 'config.ini'), 'utf8')).toMatch(
        new RegExp(`\\nbackend = postgresql\\n[^[]*\\nname = ${db}\\n`),
      )
      expect(server.counts(db)).toEqual(rows)
      expect(keptCopies(home).map(digest)).toEqual([oldDigest])
      expect(server.list(prefix)).toEqual([db])
      expect(strays(home)).toEqual([])
      const again = await runBk(argv)
      expect(again.exitCode).toBe(1)
      expect(again.stderr).toContain('already uses the postgresql backend')
    }, 60_000)
  }
})
