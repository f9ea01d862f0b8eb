/**
 * A small but real Trac environment on SQLite, made natively (no Python): Trac's layout, a trac.ini, the
 * database_version 45 schema, some tickets, wiki pages and attachments stored where Trac stores them.
 * For the README's quick start and for tests/benchmarks that need an env of a given size.
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import {extname, join} from 'node:path'
import {openSql} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {createTableSql, TRAC_DB_VERSION, TRAC_SCHEMA} from './convert/schema.js'
import {ENV_VERSION_LINE} from './environment.js'

export interface ExampleEnvironmentOptions {
  /** Number of tickets (default 12). */
  tickets?: number
  /** Number of wiki pages (default 5), each with 2 versions. */
  wikiPages?: number
  /** Attachments on the first tickets (default 3); `attachmentBytes` each (default a few KB). */
  attachments?: number
  attachmentBytes?: number
  /** Bytes of description text per ticket (default ~200): grows the database for benchmarks. */
  descriptionBytes?: number
  /** `[trac] database` (default `sqlite:db/trac.db`). */
  database?: string
  /** Put the SQLite database in WAL mode (default rollback journal, as Trac creates it). */
  wal?: boolean
}

export interface ExampleEnvironment {
  path: string
  database: string
  tickets: number
  wikiPages: number
  attachments: number
}

const sha1 = (text: string) => createHash('sha1').update(text, 'utf8').digest('hex')

/** Where Trac (db28+) keeps an attachment: files/attachments/<realm>/<sha1(id)[:3]>/<sha1(id)>/<sha1(name)><.ext>. */
export function attachmentPath(realm: string, id: string, filename: string): string {
  const parent = sha1(id)
  const ext = extname(filename)
  const keep = /^\.[A-Za-z0-9]+$/.test(ext) ? ext : ''
  return join('files', 'attachments', realm, parent.slice(0, 3), parent, sha1(filename) + keep)
}

const TRAC_INI = (database: string) => `# -*- coding: utf-8 -*-

[attachment]
max_size = 262144

[inherit]
htdocs_dir =
plugins_dir =
templates_dir =

[logging]
log_file = trac.log
log_level = INFO
log_type = file

[project]
descr = An example Trac environment made by bk
name = Example

[trac]
backup_dir = db
base_url =
database = ${database}
mysqldump_path = mysqldump
pg_dump_path = pg_dump
`

/** Creates an example Trac environment at `dir` (which must not exist or be empty). */
export async function makeExampleEnvironment(
  dir: string,
  options: ExampleEnvironmentOptions = {},
): Promise<ExampleEnvironment> {
  const tickets = options.tickets ?? 12
  const wikiPages = options.wikiPages ?? 5
  const attachments = Math.min(options.attachments ?? 3, Math.max(tickets, 0))
  const database = options.database ?? 'sqlite:db/trac.db'
  if (!database.startsWith('sqlite:')) throw new BkError('makeExampleEnvironment: only an SQLite database can be made')
  mkdirSync(dir, {recursive: true})
  for (const sub of ['conf', 'db', 'htdocs', 'log', 'plugins', 'templates'])
    mkdirSync(join(dir, sub), {recursive: true})
  writeFileSync(join(dir, 'VERSION'), `${ENV_VERSION_LINE}\n`)
  writeFileSync(
    join(dir, 'README'),
    'This directory contains a Trac environment.\nVisit https://trac.edgewall.org/ for more information.\n',
  )
  writeFileSync(join(dir, 'conf', 'trac.ini'), TRAC_INI(database), {mode: 0o600})
  writeFileSync(
    join(dir, 'log', 'trac.log'),
    '2026-01-01 00:00:00,000 Trac[env] INFO: -------- environment startup [Trac 1.6] --------\n',
  )
  const dbFile = database.slice('sqlite:'.length)
  const db = await openSql(dbFile.startsWith('/') ? dbFile : join(dir, dbFile), {create: true})
  try {
    if (options.wal) await db.run('PRAGMA journal_mode = WAL')
    await db.begin()
    for (const table of TRAC_SCHEMA) for (const sql of createTableSql('sqlite', table)) await db.run(sql)
    const ins = (table: string, ...values: unknown[]) =>
      db.run(`INSERT INTO ${table} VALUES (${values.map(() => '?').join(',')})`, values)
    await ins('system', 'database_version', String(TRAC_DB_VERSION))
    await ins('system', 'initial_database_version', String(TRAC_DB_VERSION))
    for (const [type, names] of [
      ['priority', ['blocker', 'critical', 'major', 'minor', 'trivial']],
      ['resolution', ['fixed', 'invalid', 'wontfix', 'duplicate', 'worksforme']],
      ['ticket_type', ['defect', 'enhancement', 'task']],
    ] as const) {
      for (const [i, name] of names.entries()) await ins('enum', type, name, String(i + 1), null)
    }
    await ins('component', 'component1', 'somebody', null)
    await ins('component', 'component2', 'somebody', null)
    for (const m of ['milestone1', 'milestone2', 'milestone3']) await ins('milestone', m, 0, 0, null)
    for (const action of ['WIKI_VIEW', 'TICKET_VIEW', 'REPORT_VIEW', 'TIMELINE_VIEW'])
      await ins('permission', 'anonymous', action)
    await ins('permission', 'admin', 'TRAC_ADMIN')
    await ins(
      'report',
      null,
      null,
      'Active Tickets',
      "SELECT id AS ticket, summary FROM ticket WHERE status <> 'closed'",
      '',
    )
    const base = 1_700_000_000_000_000n
    const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit — äöü ✓. '
    const descBytes = options.descriptionBytes ?? 200
    const description = filler.repeat(Math.ceil(descBytes / filler.length)).slice(0, descBytes)
    const ticket = (...values: unknown[]) =>
      db.run(
        `INSERT INTO ticket (id, type, time, changetime, component, severity, priority, owner, reporter, cc, version,
        milestone, status, resolution, summary, description, keywords) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        values,
      )
    const change = (...values: unknown[]) => db.run('INSERT INTO ticket_change VALUES (?,?,?,?,?,?)', values)
    for (let id = 1; id <= tickets; id++) {
      const time = base + BigInt(id) * 60_000_000n
      const closed = id % 3 === 0
      await ticket(
        id,
        'defect',
        time,
        time + 1000n,
        'component1',
        null,
        'major',
        'somebody',
        'alice',
        '',
        null,
        `milestone${(id % 3) + 1}`,
        closed ? 'closed' : 'new',
        closed ? 'fixed' : null,
        `Example ticket #${id}`,
        description,
        '',
      )
      if (closed) await change(id, time + 1000n, 'bob', 'status', 'new', 'closed')
    }
    const wiki = (...values: unknown[]) => db.run('INSERT INTO wiki VALUES (?,?,?,?,?,?,?)', values)
    for (let p = 1; p <= wikiPages; p++) {
      for (let v = 1; v <= 2; v++) {
        await wiki(
          `ExamplePage${p}`,
          v,
          base + BigInt(p * 10 + v),
          'alice',
          `= Example page ${p} =\nVersion ${v}.\n`,
          '',
          0,
        )
      }
    }
    for (let i = 1; i <= attachments; i++) {
      const name = `notes-${i}.txt`
      const bytes = options.attachmentBytes ?? 2048
      const rel = attachmentPath('ticket', String(i), name)
      mkdirSync(join(dir, rel, '..'), {recursive: true})
      writeFileSync(join(dir, rel), attachmentContent(i, bytes))
      await ins('attachment', 'ticket', String(i), name, bytes, base + BigInt(i), 'an example attachment', 'alice')
    }
    await db.commit()
  } finally {
    await db.close()
  }
  return {path: dir, database, tickets, wikiPages, attachments}
}

/** Deterministic bytes for attachment `i` (random bytes would not compress, like real binary uploads). */
function attachmentContent(i: number, bytes: number): Buffer {
  if (bytes <= 4096) return Buffer.from(`attachment ${i}\n`.repeat(Math.ceil(bytes / 14))).subarray(0, bytes)
  return randomBytes(bytes)
}
