import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {makeExampleTracker} from '../src/example.js'
import {exportTracker} from '../src/export.js'
import {
  createMyDb,
  createPgDb,
  dropMyDb,
  dropPgDb,
  fixtureTree,
  roundupFixture,
  setRdbms,
  treeDifferences,
  uniqueName,
} from './helpers.js'

const exportFixture = fixtureTree('export')

/** Apparent bytes of the regular files under a folder. */
function sizes(dir: string): number {
  return readdirSync(dir, {withFileTypes: true}).reduce(
    (n, e) => n + (e.isDirectory() ? sizes(join(dir, e.name)) : statSync(join(dir, e.name)).size),
    0,
  )
}
const tablesFixture = fixtureTree('exporttables')

describe('bk roundup export from the sqlite fixture', () => {
  it('is byte-identical to roundup-admin export (every CSV and every file under *-files)', async () => {
    const home = fixtureTree('sqlite-home')
    const out = join(tempDir(), 'export')
    const result = await exportTracker(home, out)
    expect(result.classes.map((c) => c.name)).toEqual([
      'priority',
      'status',
      'keyword',
      'query',
      'user',
      'msg',
      'file',
      'issue',
    ])
    expect(treeDifferences(out, exportFixture)).toEqual([])
    // the fixture holds 66 files besides the CSVs; make sure the comparison saw them
    expect(result.files).toBe(66)
    // the bytes it reports are those of every file it wrote (counted while writing, no walk afterwards)
    expect(result.bytes).toBe(sizes(exportFixture))
    expect(result.classes.find((c) => c.name === 'msg')?.bytes).toBe(
      sizes(join(exportFixture, 'msg-files')) +
        statSync(join(exportFixture, 'msg.csv')).size +
        statSync(join(exportFixture, 'msg-journals.csv')).size,
    )
  })

  it('--json reports the export with the bytes of its files', async () => {
    const home = fixtureTree('sqlite-home')
    const out = join(tempDir(), 'export')
    const r = await runBk(['roundup', 'export', home, out, '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout) as {artifacts: {path: string; bytes: number}[]}
    expect(json.artifacts).toHaveLength(1)
    expect(json.artifacts[0]?.bytes).toBe(sizes(exportFixture))
  })

  it('--no-files through the CLI equals roundup-admin exporttables', async () => {
    const home = fixtureTree('sqlite-home')
    const out = join(tempDir(), 'tables')
    const r = await runBk(['roundup', 'export', home, out, '--no-files'])
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toContain('Exported 8 classes')
    expect(treeDifferences(out, tablesFixture)).toEqual([])
  })

  it("exporttables (roundup-admin's command name) equals roundup-admin exporttables", async () => {
    const home = fixtureTree('sqlite-home')
    const out = join(tempDir(), 'tables')
    const r = await runBk(['roundup', 'exporttables', home, out])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(treeDifferences(out, tablesFixture)).toEqual([])
  })

  it('--classes picks classes, and -a,b excludes them', async () => {
    const home = fixtureTree('sqlite-home')
    const only = join(tempDir(), 'only')
    await exportTracker(home, only, {classes: 'user,keyword'})
    expect(readFileSync(join(only, 'user.csv'))).toEqual(readFileSync(join(exportFixture, 'user.csv')))
    expect(existsSync(join(only, 'issue.csv'))).toBe(false)
    const but = join(tempDir(), 'but')
    await exportTracker(home, but, {classes: '-msg,file,issue'})
    expect(existsSync(join(but, 'msg.csv'))).toBe(false)
    expect(readFileSync(join(but, 'priority-journals.csv'))).toEqual(
      readFileSync(join(exportFixture, 'priority-journals.csv')),
    )
  })

  it('reads committed rows still in the WAL (a file copy of db/db would miss them)', async () => {
    const home = fixtureTree('sqlite-home')
    const db = new Database(join(home, 'db', 'db'))
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.prepare("update _user set _realname = 'In WAL only' where id = 3").run()
    const out = join(tempDir(), 'wal')
    try {
      expect(existsSync(join(home, 'db', 'db-wal'))).toBe(true)
      await exportTracker(home, out, {classes: 'user'})
    } finally {
      db.close()
    }
    expect(readFileSync(join(out, 'user.csv'), 'utf8')).toContain("'In WAL only'")
  })

  // which thread takes which part is the scheduler's choice (under load one thread may take all 16 before the
  // other has checked its snapshot), so the test asserts who may write, not how the parts were shared
  it('the export’s threads write every part (each a table or journals) once, the main thread none, the export stays byte-identical', async () => {
    const home = fixtureTree('sqlite-home')
    const out = join(tempDir(), 'export')
    const parts: string[] = []
    const result = await exportTracker(home, out, {
      onPart: (cls, part, thread) => parts.push(`${thread} ${cls} ${part}`),
    })
    expect(treeDifferences(out, exportFixture)).toEqual([])
    expect(result.files).toBe(66)
    expect(result.bytes).toBe(sizes(exportFixture))
    expect(parts).toHaveLength(16)
    expect(new Set(parts.map((p) => p.split(' ').slice(1).join(' '))).size).toBe(16)
    expect(parts.filter((p) => !p.startsWith('1 ') && !p.startsWith('2 '))).toEqual([])
  })

  it('a commit between its snapshot and its threads’: the threads write nothing, the export is the snapshot', async () => {
    const home = fixtureTree('sqlite-home')
    const db = new Database(join(home, 'db', 'db'))
    db.pragma('journal_mode = WAL')
    const classes = (
      db
        .prepare("select name from sqlite_master where type = 'table' and name like '%__journal'")
        .raw(true)
        .all() as string[][]
    ).map(([t]) => (t as string).replace(/__journal$/, ''))
    const out = join(tempDir(), 'export')
    const parts: string[] = []
    try {
      await exportTracker(home, out, {
        onPart: (cls, part, thread) => parts.push(`${thread} ${cls} ${part}`),
        // every class's rows and journals change: whichever part a thread reading the new state wrote would show it
        afterSnapshot: () => {
          db.transaction(() => {
            for (const cls of classes) {
              db.prepare(`update _${cls} set _activity = '20300101000000.000'`).run()
              db.prepare(`insert into ${cls}__journal values (1, '20300101000000.000', '1', 'create', '{}')`).run()
            }
          })()
        },
      })
    } finally {
      db.close()
    }
    expect(classes.length).toBe(8)
    expect(treeDifferences(out, exportFixture)).toEqual([])
    expect(parts.filter((p) => !p.startsWith('main '))).toEqual([])
    expect(parts).toHaveLength(16)
  })

  it('file contents copied a few folders per thread give the same export as one thread for them all', async () => {
    const home = join(tempDir(), 'tracker')
    // 900 issues: 2700 messages in db/files/msg/0..2, 180 files in db/files/file/0
    await makeExampleTracker(home, {issues: 900})
    const one = join(tempDir(), 'one')
    const many = join(tempDir(), 'many')
    const a = await exportTracker(home, one)
    const b = await exportTracker(home, many, {copyChunk: 1})
    expect(readdirSync(join(many, 'msg-files')).sort()).toEqual(['0', '1', '2'])
    expect(treeDifferences(many, one)).toEqual([])
    expect(readdirSync(many).sort()).toEqual(readdirSync(one).sort())
    expect(b.files).toBe(a.files)
    expect(b.bytes).toBe(a.bytes)
    expect(b.bytes).toBe(sizes(many))
    expect(statSync(join(many, 'msg-files')).mtimeMs).toBe(statSync(join(one, 'msg-files')).mtimeMs)
  })

  it('journals: per node in getnodeids() order, ties within one date in the order sqlite gives roundup', async () => {
    const home = fixtureTree('sqlite-home')
    const db = new Database(join(home, 'db', 'db'))
    const ids = (db.prepare('select id from _issue order by id').raw(true).all() as number[][]).map((r) => r[0])
    // retire a node in the middle: getnodeids() (the __retired__ index) is then not ascending
    db.prepare('update _issue set __retired__ = ? where id = ?').run(ids[1], ids[1])
    const insert = db.prepare("insert into issue__journal values (?, ?, '1', 'set', ?)")
    let n = 0
    for (let round = 0; round < 4; round++) {
      for (const id of ids) {
        // two dates, each repeated, rows of different nodes interleaved
        for (const date of ['20200101000000.000', '20190101000000.000']) insert.run(id, date, `{'title': 'tie-${n++}'}`)
      }
    }
    const expected: string[] = []
    const perNode = db.prepare('select params from issue__journal where nodeid=? order by date').raw(true)
    for (const [id] of db.prepare('select id from _issue').raw(true).all() as number[][]) {
      for (const [params] of perNode.all(id) as string[][]) {
        const tie = /tie-\d+/.exec(params ?? '')
        if (tie) expected.push(tie[0])
      }
    }
    db.close()
    const out = join(tempDir(), 'ties')
    await exportTracker(home, out, {classes: 'issue'})
    const written = readFileSync(join(out, 'issue-journals.csv'), 'utf8').match(/tie-\d+/g)
    expect(expected).toHaveLength(n)
    expect(written).toEqual(expected)
  })

  it('refuses bad inputs with one-line errors and writes nothing', async () => {
    const notHome = tempDir()
    let r = await runBk(['roundup', 'export', notHome, join(tempDir(), 'x')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: .* is not a Roundup tracker home/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)

    const home = fixtureTree('sqlite-home')
    const busy = tempDir()
    writeFileSync(join(busy, 'keep.txt'), 'x')
    r = await runBk(['roundup', 'export', home, busy])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/is not empty/)

    r = await runBk(['roundup', 'export', home, join(busy, 'out'), '--classes', 'nosuch'])
    expect(r.stderr).toMatch(/no such class "nosuch"/)
    expect(existsSync(join(busy, 'out'))).toBe(false)

    const unknown = fixtureTree('sqlite-home')
    setRdbms(unknown, {backend: 'oracle'})
    r = await runBk(['roundup', 'export', unknown, join(tempDir(), 'y')])
    expect(r.stderr).toMatch(/unknown \[rdbms\] backend 'oracle'/)
  })

  it('fails when a file content is missing and leaves no partial export', async () => {
    const home = fixtureTree('sqlite-home')
    rmSync(join(home, 'db', 'files', 'msg', '0', 'msg7'))
    const parent = tempDir()
    const out = join(parent, 'e')
    await expect(exportTracker(home, out)).rejects.toThrow(/content of msg7 is missing/)
    expect(existsSync(out)).toBe(false)
    expect(readdirSync(parent)).toEqual([])
  })

  it('copies contents found elsewhere (.tmp, the flat layout, symlinks, hard links) and nothing but the nodes', async () => {
    const home = fixtureTree('sqlite-home')
    const files = join(home, 'db', 'files')
    const msgs = join(files, 'msg', '0')
    // Roundup's db.filename() looks in <class>/<id//1000>/<class><id>, then .tmp, then the old flat layout
    renameSync(join(msgs, 'msg7'), join(msgs, 'msg7.tmp'))
    renameSync(join(msgs, 'msg8'), join(files, 'msg8'))
    // a symlink is followed (shutil.copyfile), a hard-linked file copied whole
    const elsewhere = join(tempDir(), 'msg9')
    renameSync(join(msgs, 'msg9'), elsewhere)
    symlinkSync(elsewhere, join(msgs, 'msg9'))
    linkSync(join(msgs, 'msg10'), join(tempDir(), 'msg10-link'))
    // files that are no node's content (none of them may appear in the export)
    writeFileSync(join(msgs, 'msg999'), 'no such message')
    writeFileSync(join(msgs, 'notes'), 'stray')
    writeFileSync(join(msgs, 'msg07'), 'not an id')
    mkdirSync(join(files, 'msg', '5'))
    writeFileSync(join(files, 'msg', '5', 'msg5001'), 'no such message')
    mkdirSync(join(msgs, 'sub'))
    writeFileSync(join(msgs, 'sub', 'msg11'), 'deeper')
    writeFileSync(join(files, 'msg', '0', 'file1'), 'another class')
    const out = join(tempDir(), 'export')
    const result = await exportTracker(home, out)
    expect(treeDifferences(out, exportFixture)).toEqual([])
    expect(result.files).toBe(66)
    expect(result.bytes).toBe(sizes(exportFixture))
    expect(lstatSync(join(out, 'msg-files', '0', 'msg9')).isFile()).toBe(true)
    // no folder for a bucket without nodes, none for a folder deeper down
    expect(readdirSync(join(out, 'msg-files'))).toEqual(['0'])
    expect(existsSync(join(out, 'msg-files', '0', 'sub'))).toBe(false)
  })

  it('refuses a database whose schema does not match schema.py', async () => {
    const home = fixtureTree('sqlite-home')
    const schema = readFileSync(join(home, 'schema.py'), 'utf8')
    writeFileSync(
      join(home, 'schema.py'),
      schema.replace('name=String())\nkeyword.setkey', 'name=String(), colour=String())\nkeyword.setkey'),
    )
    await expect(exportTracker(home, join(tempDir(), 'z'))).rejects.toThrow(/schema.py does not match.*keyword\.colour/)
  })
})

describe('bk roundup export from PostgreSQL and MySQL', () => {
  const pgName = uniqueName()
  const myName = uniqueName()
  afterAll(() => {
    dropPgDb(pgName)
    dropMyDb(myName)
  })

  it('PostgreSQL: identical to roundup-admin export of the same database', async () => {
    createPgDb(pgName, roundupFixture('postgresql-dump.sql'))
    const home = fixtureTree('postgresql-home')
    setRdbms(home, {name: pgName})
    const out = join(tempDir(), 'pg')
    await exportTracker(home, out)
    expect(treeDifferences(out, fixtureTree('postgresql-home-reexport'))).toEqual([])
  })

  it('MySQL: identical to roundup-admin export of the same database', async () => {
    createMyDb(myName, roundupFixture('mysql-dump.sql'))
    const home = fixtureTree('mysql-home')
    setRdbms(home, {name: myName})
    const out = join(tempDir(), 'my')
    await exportTracker(home, out)
    expect(treeDifferences(out, fixtureTree('mysql-home-reexport'))).toEqual([])
  })

  it('server down and unknown database are one-line errors', async () => {
    const home = fixtureTree('postgresql-home')
    setRdbms(home, {name: pgName, port: '1'})
    let r = await runBk(['roundup', 'export', home, join(tempDir(), 'a')])
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/^bk: cannot connect to PostgreSQL at 127\.0\.0\.1:1 .*is the server running\?\n$/)
    const my = fixtureTree('mysql-home')
    setRdbms(my, {name: 'bk_no_such_db_here'})
    r = await runBk(['roundup', 'export', my, join(tempDir(), 'b')])
    expect(r.stderr).toMatch(
      /^bk: database 'bk_no_such_db_here' does not exist on MySQL\/MariaDB at 127\.0\.0\.1:3306 — check \[rdbms\] name in config\.ini\n$/,
    )
    const wrong = fixtureTree('mysql-home')
    setRdbms(wrong, {name: myName, password: 'not-the-password'})
    r = await runBk(['roundup', 'export', wrong, join(tempDir(), 'c')])
    expect(r.stderr).toMatch(
      /^bk: MySQL\/MariaDB refused the password for user 'root'@127\.0\.0\.1 — check \[rdbms\] user and password in config\.ini\n$/,
    )
    expect(r.stderr).not.toContain('not-the-password')
  })
})
