import {cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {exportTracker} from '../src/export.js'
import {importTracker} from '../src/import.js'
import {
  createMyDb,
  createPgDb,
  dropMyDb,
  dropPgDb,
  fixtureTree,
  mysqlq,
  normalisedCsv,
  psql,
  roundupFixture,
  setRdbms,
  treeDifferences,
  uniqueName,
} from './helpers.js'

const exportFixture = fixtureTree('export')
const FTS = new Set(['__words', '__textids', '__fts'])

/** A tracker home with no database yet (db/ removed). */
function emptyHome(fixture: string, rdbms: Record<string, string> = {}): string {
  const home = fixtureTree(fixture)
  rmSync(join(home, 'db'), {recursive: true, force: true})
  setRdbms(home, rdbms)
  return home
}

function pgTables(db: string): string[] {
  return psql("select table_name from information_schema.tables where table_schema='public' order by 1", db)
    .trim()
    .split('\n')
}

function pgRows(db: string, table: string): string {
  return psql(`select * from "${table}"`, db).split('\n').sort().join('\n')
}

describe('bk roundup import into sqlite', () => {
  it('rebuilds the tracker: exporting it again gives the original export (journal ties aside, as roundup-admin)', async () => {
    const home = emptyHome('sqlite-home')
    const r = await runBk(['roundup', 'import', home, exportFixture])
    expect(r.exitCode).toBe(0)
    // the full-text index is filled (no reindex needed); Roundup's default indexer may prefer xapian: said so
    expect(r.stderr).toContain("filled Roundup's native full-text index (102 texts)")
    const again = join(tempDir(), 'again')
    await exportTracker(home, again)
    expect(normalisedCsv(again)).toEqual(normalisedCsv(exportFixture))
    // the data rows (not journals) are byte-identical, and so are all files
    const diffs = treeDifferences(again, exportFixture).filter((f) => !f.endsWith('-journals.csv'))
    expect(diffs).toEqual([])
  })

  it('sets the id counters as roundup-admin does (max id + 2; 3 for an empty class)', async () => {
    const home = emptyHome('sqlite-home')
    const result = await importTracker(home, exportFixture)
    expect(Object.fromEntries(result.classes.map((c) => [c.name, c.nextId]))).toEqual({
      priority: 7,
      status: 10,
      keyword: 6,
      query: 3,
      user: 9,
      msg: 56,
      file: 14,
      issue: 42,
    })
  })

  it('refuses a tracker that already has a database, and changes nothing', async () => {
    const home = fixtureTree('sqlite-home')
    const before = readFileSync(join(home, 'db', 'db'))
    const r = await runBk(['roundup', 'import', home, exportFixture])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: .*db\/db already exists; bk imports only into a fresh, empty database/)
    expect(readFileSync(join(home, 'db', 'db')).equals(before)).toBe(true)
  })

  it('a corrupt CSV fails with one line and leaves no database and no files', async () => {
    const bad = join(tempDir(), 'bad')
    cpSync(exportFixture, bad, {recursive: true})
    const issue = readFileSync(join(bad, 'issue.csv'), 'utf8').split('\n')
    issue[20] = issue[20]!.replace("'1'", "'1") // an unterminated Python string
    writeFileSync(join(bad, 'issue.csv'), issue.join('\n'))
    const home = emptyHome('sqlite-home')
    const r = await runBk(['roundup', 'import', home, bad])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: .*issue\.csv line 21: .* is not a Roundup export value \(corrupt CSV\?\)\n$/)
    expect(existsSync(join(home, 'db', 'db'))).toBe(false)
    expect(existsSync(join(home, 'db', 'files'))).toBe(false)
    expect(readdirSync(join(home, 'db'))).toEqual([])
  })

  it('an exporttables dump without --no-files fails cleanly (roundup-admin leaves a half-committed database)', async () => {
    const home = emptyHome('sqlite-home')
    await expect(importTracker(home, fixtureTree('exporttables'))).rejects.toThrow(/msg-files\/0\/msg1 is missing/)
    expect(readdirSync(join(home, 'db'))).toEqual([])
    // with --no-files it works
    await importTracker(home, fixtureTree('exporttables'), {files: false})
    expect(existsSync(join(home, 'db', 'db'))).toBe(true)
  })

  it("importtables (roundup-admin's command name) imports an exporttables dump without files", async () => {
    const home = emptyHome('sqlite-home')
    const r = await runBk(['roundup', 'importtables', home, fixtureTree('exporttables')])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(existsSync(join(home, 'db', 'files'))).toBe(false)
    const again = join(tempDir(), 'again')
    await exportTracker(home, again, {files: false})
    expect(normalisedCsv(again)).toEqual(normalisedCsv(fixtureTree('exporttables')))
  })

  it('refuses a directory that is not an export, or names an unknown class', async () => {
    const home = emptyHome('sqlite-home')
    await expect(importTracker(home, tempDir())).rejects.toThrow(/holds no <class>.csv files/)
    const odd = join(tempDir(), 'odd')
    cpSync(exportFixture, odd, {recursive: true})
    writeFileSync(join(odd, 'widget.csv'), 'id:is retired\n')
    await expect(importTracker(home, odd)).rejects.toThrow(/no such class "widget"/)
    expect(existsSync(join(home, 'db'))).toBe(false)
  })
})

describe('bk roundup import into PostgreSQL and MySQL', () => {
  const names: {pg: string[]; my: string[]} = {pg: [], my: []}
  const pgName = () => {
    const n = uniqueName()
    names.pg.push(n)
    return n
  }
  const myName = () => {
    const n = uniqueName()
    names.my.push(n)
    return n
  }
  afterAll(() => {
    for (const n of names.pg) dropPgDb(n)
    for (const n of names.my) dropMyDb(n)
  })

  it('PostgreSQL: every table equals postgresql-dump.sql (full-text tables aside), DDL and sequences included', async () => {
    const reference = pgName()
    createPgDb(reference, roundupFixture('postgresql-dump.sql'))
    const target = pgName()
    const home = emptyHome('postgresql-home', {name: target})
    const r = await runBk(['roundup', 'import', home, exportFixture, '--json'])
    expect(r.exitCode).toBe(0)
    expect(r.json<{backend: string}>().backend).toBe('postgresql')
    expect(pgTables(target)).toEqual(pgTables(reference))
    for (const t of pgTables(reference).filter((x) => !FTS.has(x))) {
      expect(pgRows(target, t), t).toBe(pgRows(reference, t))
    }
    const cols =
      "select table_name, column_name, ordinal_position, data_type, character_maximum_length, column_default from information_schema.columns where table_schema='public' order by 1,3"
    expect(psql(cols, target)).toBe(psql(cols, reference))
    const idx = "select indexname, indexdef from pg_indexes where schemaname='public' order by 1"
    expect(psql(idx, target)).toBe(psql(idx, reference))
    const seq = "select sequencename, last_value from pg_sequences where sequencename <> '___textids_ids' order by 1"
    expect(psql(seq, target)).toBe(psql(seq, reference))
    // and the files are in db/files
    expect(treeDifferences(join(home, 'db', 'files', 'msg'), join(exportFixture, 'msg-files'))).toEqual([])
  })

  it('PostgreSQL: an existing non-empty database is refused and left as it was', async () => {
    const existing = pgName()
    createPgDb(existing, roundupFixture('postgresql-dump.sql'))
    const home = emptyHome('postgresql-home', {name: existing})
    const r = await runBk(['roundup', 'import', home, exportFixture])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/already exists and is not empty/)
    expect(psql('select count(*) from _issue', existing).trim()).toBe('40')
  })

  it('PostgreSQL: a failing import drops the database it created', async () => {
    const target = pgName()
    const bad = join(tempDir(), 'bad')
    cpSync(exportFixture, bad, {recursive: true})
    writeFileSync(join(bad, 'user-journals.csv'), "'1':not-a-date:'1':'create':{}\n")
    const home = emptyHome('postgresql-home', {name: target})
    await expect(importTracker(home, bad)).rejects.toThrow(/user-journals\.csv line 1/)
    expect(psql(`select count(*) from pg_database where datname = '${target}'`).trim()).toBe('0')
  })

  it('MySQL: every table equals mysql-dump.sql (full-text tables and their counter aside)', async () => {
    const reference = myName()
    createMyDb(reference, roundupFixture('mysql-dump.sql'))
    const target = myName()
    const home = emptyHome('mysql-home', {name: target})
    await importTracker(home, exportFixture)
    const tables = (db: string) =>
      mysqlq(`select table_name from information_schema.tables where table_schema='${db}' order by 1`)
        .trim()
        .split('\n')
    expect(tables(target)).toEqual(tables(reference))
    for (const t of tables(reference).filter((x) => !FTS.has(x))) {
      const rows = (db: string) =>
        mysqlq(`select * from \`${t}\`${t === 'ids' ? " where name <> '__textids'" : ''}`, db)
          .split('\n')
          .sort()
          .join('\n')
      expect(rows(target), t).toBe(rows(reference))
    }
    const cols = (db: string) =>
      mysqlq(
        `select table_name, column_name, ordinal_position, column_type, column_default from information_schema.columns where table_schema='${db}' order by 1,3`,
      )
    expect(cols(target)).toBe(cols(reference))
    const idx = (db: string) =>
      mysqlq(
        `select table_name, index_name, non_unique, seq_in_index, column_name, sub_part from information_schema.statistics where table_schema='${db}' order by 1,2,4`,
      )
    expect(idx(target)).toBe(idx(reference))
  })

  it('MySQL: a failing import leaves no database behind', async () => {
    const target = myName()
    const home = emptyHome('mysql-home', {name: target})
    await expect(importTracker(home, fixtureTree('exporttables'))).rejects.toThrow(/is missing/)
    expect(mysqlq(`select count(*) from information_schema.schemata where schema_name = '${target}'`).trim()).toBe('0')
  })

  it('wrong password is a one-line error', async () => {
    const home = emptyHome('postgresql-home', {name: uniqueName(), user: 'bk_no_such_user', password: 'nope'})
    const r = await runBk(['roundup', 'import', home, exportFixture])
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    // trust auth: the unknown role is refused before any password is asked for
    expect(r.stderr).toMatch(
      /^bk: PostgreSQL denied access for user "bk_no_such_user": .*bk_no_such_user.* — check \[rdbms\] user and password in config\.ini\n$/,
    )
    expect(r.stderr).not.toContain('nope')
  })
})
