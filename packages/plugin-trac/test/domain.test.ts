import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {text} from 'node:stream/consumers'
import {tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {createTableSql, tracTable} from '../src/convert/schema.js'
import {dumpDatabaseVersion} from '../src/database.js'
import {formatTracDbUrl, parseTracDbUrl, pgSchema, sqlitePathIn} from '../src/db-url.js'
import {TracEnvironment} from '../src/environment.js'
import {attachmentPath, makeExampleEnvironment} from '../src/example.js'
import {PgDumpRewriter} from '../src/pg-dump-rewrite.js'
import {fixtureEnv, sqliteDump} from './helpers.js'

describe('Trac database URLs', () => {
  it('reads Trac’s forms', () => {
    const sqlite = parseTracDbUrl('sqlite:db/trac.db?timeout=30')
    expect(sqlite).toMatchObject({engine: 'sqlite', path: 'db/trac.db', params: {timeout: '30'}})
    expect(sqlitePathIn('/srv/env', sqlite)).toBe('/srv/env/db/trac.db')
    expect(sqlitePathIn('/srv/env', parseTracDbUrl('sqlite:/var/lib/trac.db'))).toBe('/var/lib/trac.db')
    const my = parseTracDbUrl('mysql://trac:p%40ss%20w0rd@127.0.0.1:3306/trac_fixture')
    expect(my).toMatchObject({
      engine: 'mysql',
      user: 'trac',
      password: 'p@ss w0rd',
      host: '127.0.0.1',
      port: 3306,
      database: 'trac_fixture',
    })
    const pg = parseTracDbUrl('postgres://trac@/trac?host=/run/postgresql&schema=Trac%20Sch')
    expect(pg).toMatchObject({engine: 'postgres', socket: '/run/postgresql', database: 'trac'})
    expect(pgSchema(pg)).toBe('Trac Sch')
    expect(() => parseTracDbUrl('oracle://x/y')).toThrow(/unsupported database/)
    expect(() => parseTracDbUrl('postgres://root@localhost/')).toThrow(/names no database/)
  })

  it('writes Trac’s spelling back (no postgresql://), the password only when asked', () => {
    const url = parseTracDbUrl('postgresql://u:s%2Fecret@db.example:5433/trac')
    expect(formatTracDbUrl(url)).toBe('postgres://u@db.example:5433/trac')
    expect(formatTracDbUrl(url, {withPassword: true})).toBe('postgres://u:s%2Fecret@db.example:5433/trac')
    expect(formatTracDbUrl(parseTracDbUrl('mariadb://root@h/x'))).toBe('mysql://root@h/x')
  })
})

describe('trac.ini [inherit] chain', () => {
  it('finds [trac] database in a parent of a parent, paths relative to the file naming them', async () => {
    const root = tempDir()
    const env = join(root, 'env')
    await makeExampleEnvironment(env)
    mkdirSync(join(root, 'global', 'more'), {recursive: true})
    writeFileSync(join(root, 'global', 'base.ini'), '[inherit]\nfile = more/db.ini\n\n[svn]\nauthz_file = authz\n')
    writeFileSync(join(root, 'global', 'more', 'db.ini'), '[trac]\ndatabase = postgres://trac@localhost/shared\n')
    writeFileSync(
      join(env, 'conf/trac.ini'),
      `# -*- coding: utf-8 -*-\n[inherit]\nfile = ../../global/base.ini,\n  ${join(root, 'missing-is-an-error.ini')}\n`,
    )
    await expect(TracEnvironment.open(env)).rejects.toThrow(
      /configuration file is not found at .*missing-is-an-error.ini/,
    )
    writeFileSync(join(env, 'conf/trac.ini'), '[inherit]\nfile = ../../global/base.ini\n')
    const opened = await TracEnvironment.open(env)
    expect(opened.databaseUri).toBe('postgres://trac@localhost/shared')
    expect(opened.config.parents).toEqual([join(root, 'global/base.ini'), join(root, 'global/more/db.ini')])
    expect(opened.config.path('svn', 'authz_file')).toBe(join(root, 'global/authz'))
    // no database option anywhere: Trac's default
    writeFileSync(join(env, 'conf/trac.ini'), '[project]\nname = x\n')
    expect((await TracEnvironment.open(env)).databaseUri).toBe('sqlite:db/trac.db')
  })
})

describe('schema DDL', () => {
  it('writes the SQLite DDL Trac writes', () => {
    expect(createTableSql('sqlite', tracTable('session')!)).toEqual([
      'CREATE TABLE session (\n    sid text,\n    authenticated integer,\n    last_visit integer,\n    UNIQUE (sid,authenticated)\n)',
      'CREATE INDEX session_last_visit_idx ON session (last_visit)',
      'CREATE INDEX session_authenticated_idx ON session (authenticated)',
    ])
  })
  it('uses SERIAL, bigint and a named composite key on PostgreSQL, prefixes on MySQL', () => {
    const pg = createTableSql('postgres', tracTable('ticket')!).join('\n')
    expect(pg).toContain('"id" SERIAL PRIMARY KEY')
    expect(pg).toContain('"time" bigint')
    expect(createTableSql('postgres', tracTable('wiki')!)[0]).toContain(
      'CONSTRAINT "wiki_pk" PRIMARY KEY ("name","version")',
    )
    const my = createTableSql('mysql', tracTable('node_change')!)
    expect(my[0]).toContain('`id` int unsigned NOT NULL auto_increment')
    expect(my[1]).toBe('CREATE INDEX `node_change_repos_rev_path_idx` ON `node_change` (`repos`,`rev`(40),`path`(191))')
    expect(createTableSql('mysql', tracTable('session_attribute')!)[0]).toContain(
      'PRIMARY KEY (`sid`(191),`authenticated`,`name`(191))',
    )
  })
})

describe('PgDumpRewriter', () => {
  it('drops CREATE DATABASE/\\connect and owners, keeps \\restrict balanced, never touches data', async () => {
    const dump = [
      '\\restrict KEY',
      "CREATE DATABASE trac_fixture WITH TEMPLATE = template0 ENCODING = 'UTF8';",
      'ALTER DATABASE trac_fixture OWNER TO root;',
      '\\unrestrict KEY',
      '\\connect trac_fixture',
      '\\restrict KEY',
      'CREATE SCHEMA public;',
      'ALTER SCHEMA public OWNER TO pg_database_owner;',
      'CREATE TABLE public.system (name text NOT NULL, value text);',
      'ALTER TABLE public.system OWNER TO root;',
      "INSERT INTO public.system VALUES ('database_version', '45');",
      "INSERT INTO public.wiki VALUES ('P', 1, 'text with a line',",
      '\\connect evil',
      'ALTER TABLE x OWNER TO y;',
      "');",
      '\\unrestrict KEY',
      '',
    ].join('\n')
    const rewriter = new PgDumpRewriter()
    const out = await text(Readable.from([Buffer.from(dump)]).pipe(rewriter))
    expect(out).toBe(
      [
        '\\restrict KEY',
        'CREATE SCHEMA IF NOT EXISTS public;',
        'CREATE TABLE public.system (name text NOT NULL, value text);',
        "INSERT INTO public.system VALUES ('database_version', '45');",
        "INSERT INTO public.wiki VALUES ('P', 1, 'text with a line',",
        '\\connect evil',
        'ALTER TABLE x OWNER TO y;',
        "');",
        '\\unrestrict KEY',
        '',
      ].join('\n'),
    )
    expect(rewriter.info).toEqual({createdDatabase: 'trac_fixture', databaseVersion: 45})
  })
})

describe('dumpDatabaseVersion', () => {
  it('reads database_version from trac-admin’s pg and mysql dumps without loading them', async () => {
    expect(await dumpDatabaseVersion(join(fixtureEnv('postgres-hotcopy'), 'db/postgres-db-backup.sql.gz'))).toBe(45)
    expect(await dumpDatabaseVersion(join(fixtureEnv('mysql-hotcopy'), 'db/mysql-db-backup.sql'))).toBe(45)
    const copyFormat = join(tempDir(), 'copy.sql')
    writeFileSync(
      copyFormat,
      'COPY public.system (name, value) FROM stdin;\ninitial_database_version\t41\ndatabase_version\t44\n\\.\n',
    )
    expect(await dumpDatabaseVersion(copyFormat)).toBe(44)
  })
})

describe('makeExampleEnvironment', () => {
  it('makes an env Trac would recognise, attachments where Trac stores them', async () => {
    const dir = join(tempDir(), 'example')
    const made = await makeExampleEnvironment(dir, {tickets: 7, wikiPages: 2, attachments: 2})
    expect(made).toEqual({path: dir, database: 'sqlite:db/trac.db', tickets: 7, wikiPages: 2, attachments: 2})
    const env = await TracEnvironment.open(dir)
    expect(env.sqlitePath).toBe(join(env.path, 'db/trac.db'))
    const rows = sqliteDump(join(dir, 'db/trac.db'))
    expect(rows.ticket).toHaveLength(7)
    expect(rows.wiki).toHaveLength(4)
    expect(rows.system).toEqual(['"database_version"|"45"', '"initial_database_version"|"45"'])
    // db28+ layout, checked against the paths trac-admin wrote in the sqlite-env fixture
    expect(attachmentPath('ticket', '1', 'trace-0.txt')).toBe(
      'files/attachments/ticket/356/356a192b7913b04c54574d18c28d46e6395428ab/9fefd90b354e5e180474ddc46b74a634d79b7b62.txt',
    )
    expect(attachmentPath('wiki', 'FixturePage0', 'binary.bin')).toBe(
      'files/attachments/wiki/d2d/d2d389e27b76405d5e35ac37cb406c923374c0a5/f670e217acefd26380947739ec3c3e50e8ffd120.bin',
    )
    expect(existsSync(join(dir, attachmentPath('ticket', '2', 'notes-2.txt')))).toBe(true)
    const db = new Database(join(dir, 'db/trac.db'), {readonly: true})
    expect(db.pragma('integrity_check', {simple: true})).toBe('ok')
    db.close()
  })
})
