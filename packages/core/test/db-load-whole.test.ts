// loadDump succeeds only when the client read the whole dump (a sentinel bk feeds after its last byte comes back),
// and refuses client commands that act outside the database: against real PostgreSQL and MariaDB.
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {
  createTestDatabase,
  dropTestLeftovers,
  requireServer,
  type ServerEngine,
  type TestDatabase,
  tempDir,
} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {dbClient, loadDump} from '../src/db/index.js'

afterAll(dropTestLeftovers)

async function rows(db: TestDatabase, sql: string): Promise<unknown[]> {
  const client = dbClient(db.target)
  try {
    return await client.query(sql)
  } finally {
    await client.close()
  }
}

async function tables(db: TestDatabase): Promise<string[]> {
  const sql =
    db.engine === 'postgres'
      ? "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
      : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = '${db.name}' ORDER BY 1`
  return (await rows(db, sql)).map((r) => (r as {name: string}).name)
}

async function withDb(engine: ServerEngine, fn: (db: TestDatabase, dir: string) => Promise<void>): Promise<void> {
  await requireServer(engine)
  const db = await createTestDatabase(engine)
  try {
    await fn(db, tempDir())
  } finally {
    await db.drop()
  }
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('the load succeeded')
    },
    (error: Error) => error,
  )

describe('PostgreSQL: a load that stops early fails, and commits nothing', () => {
  it('a \\q midway: refused before psql reads it; nothing committed', async () => {
    await withDb('postgres', async (db, dir) => {
      const file = join(dir, 'q.sql')
      writeFileSync(file, 'CREATE TABLE a (n int);\nINSERT INTO a VALUES (1);\n\\q\nCREATE TABLE b (n int);\n')
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toBe(
        `the dump ${file} has the psql command \\q at line 3, which pg_dump never writes and bk will not run (it acts outside the database or ends the load early); nothing was committed — inspect the dump, and remove that line if you trust it`,
      )
      expect(await tables(db)).toEqual([])
    })
  })

  it('a dump ending inside COPY rows: psql swallows the rest; bk says so, and nothing is committed', async () => {
    await withDb('postgres', async (db, dir) => {
      const file = join(dir, 'copy.sql')
      writeFileSync(file, 'CREATE TABLE a (s text);\nCOPY public.a (s) FROM stdin;\nrow one\nrow two\n')
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toBe(
        `psql stopped reading ${file} before its end (it ends inside a COPY block begun at line 3); nothing was committed`,
      )
      expect(await tables(db)).toEqual([])
    })
  })

  it('a dump ending inside a quoted string (gzip): fails, nothing committed', async () => {
    await withDb('postgres', async (db, dir) => {
      const file = join(dir, 'quote.sql.gz')
      writeFileSync(file, gzipSync("CREATE TABLE a (s text);\nINSERT INTO a VALUES ('open\n"))
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toMatch(
        /^(psql stopped reading .* before its end \(it ends inside a quoted string begun at line 2\); nothing was committed|loading .* failed: .*)$/,
      )
      expect(await tables(db)).toEqual([])
    })
  })

  it('a COMMIT that fails (a deferred constraint) fails the load, with nothing committed', async () => {
    await withDb('postgres', async (db, dir) => {
      const file = join(dir, 'deferred.sql')
      writeFileSync(
        file,
        'CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO c VALUES (1);\n',
      )
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toMatch(/violates foreign key constraint/)
      expect(await tables(db)).toEqual([])
    })
  })

  it('without a transaction (onError continue) the message says what stays', async () => {
    await withDb('postgres', async (db, dir) => {
      const file = join(dir, 'copy.sql')
      writeFileSync(file, 'CREATE TABLE a (s text);\nCOPY public.a (s) FROM stdin;\nrow one\n')
      const error = await failure(loadDump(db.target, file, {onError: 'continue'}))
      expect(error.message).toBe(
        `psql stopped reading ${file} before its end (it ends inside a COPY block begun at line 3); ${db.name} holds only what psql ran before it stopped — load a complete dump into an empty database`,
      )
    })
  })

  it('\\! is refused and never runs', async () => {
    await withDb('postgres', async (db, dir) => {
      const marker = join(dir, 'ran')
      const file = join(dir, 'bang.sql')
      writeFileSync(file, `CREATE TABLE a (n int);\nSELECT 1;\n\\! touch ${marker}\n`)
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toMatch(/has the psql command \\! at line 3, .*; nothing was committed/)
      expect(existsSync(marker)).toBe(false)
      expect(await tables(db)).toEqual([])
    })
  })

  it('command-like text in COPY rows, strings and function bodies is loaded as data, byte for byte', async () => {
    await withDb('postgres', async (source, dir) => {
      const marker = join(dir, 'ran')
      await rows(source, 'CREATE TABLE t (id int PRIMARY KEY, s text, b bytea)')
      const texts = [`\\! touch ${marker}\n\\q\nx`, "it's \\ a $$ test", 'line1\n\\.\nline3', `\\o ${marker}`]
      const client = dbClient(source.target)
      for (const [i, s] of texts.entries())
        await client.query('INSERT INTO t VALUES ($1, $2, $3)', [i, s, Buffer.from(s)])
      await client.query(`CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $fn$ SELECT '\\! touch ${marker}' $fn$`)
      await client.close()
      for (const extra of [[], ['--inserts']]) {
        const dump = join(dir, `dump${extra.join('')}.sql`)
        execFileSync('pg_dump', ['-h', '127.0.0.1', '-U', 'root', ...extra, '-f', dump, source.name])
        for (const file of [dump, `${dump}.gz`]) {
          if (file.endsWith('.gz')) writeFileSync(file, gzipSync(readFileSync(dump)))
          const copy = await createTestDatabase('postgres')
          try {
            await loadDump(copy.target, file)
            const read = "SELECT id, s, encode(b, 'hex') AS b, f() AS f FROM t ORDER BY id"
            expect(await rows(copy, read)).toEqual(await rows(source, read))
            expect((await rows(copy, 'SELECT s FROM t ORDER BY id')).map((r) => (r as {s: string}).s)).toEqual(texts)
          } finally {
            await copy.drop()
          }
        }
      }
      expect(existsSync(marker)).toBe(false)
    })
  })

  it("a dump whose SELECTs print a lot still loads (psql's output is drained, its tail kept)", async () => {
    await withDb('postgres', async (db, dir) => {
      const file = join(dir, 'loud.sql')
      writeFileSync(file, `${"SELECT repeat('x', 1000000);\n".repeat(40)}CREATE TABLE done (n int);\n`)
      await loadDump(db.target, file)
      expect(await tables(db)).toEqual(['done'])
    })
  })
})

describe('MariaDB: a load that stops early fails', () => {
  it('quit midway: refused before mysql runs anything', async () => {
    await withDb('mysql', async (db, dir) => {
      const file = join(dir, 'q.sql')
      writeFileSync(file, 'CREATE TABLE a (n int);\nINSERT INTO a VALUES (1);\nquit\nINSERT INTO a VALUES (2);\n')
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toBe(
        `the dump ${file} has the mysql command 'quit' at line 3, which mysqldump never writes and bk will not run (it acts outside the database or ends the load early); nothing was loaded into ${db.name} — inspect the dump, and remove that line if you trust it`,
      )
      expect(await tables(db)).toEqual([])
    })
  })

  it('a dump ending inside a quoted string: mysql swallows the rest; bk says so', async () => {
    await withDb('mysql', async (db, dir) => {
      const file = join(dir, 'quote.sql.gz')
      writeFileSync(
        file,
        gzipSync("CREATE TABLE a (s text);\nINSERT INTO a VALUES ('x');\nINSERT INTO a VALUES ('open\n"),
      )
      const error = await failure(loadDump(db.target, file, {onError: 'continue'}))
      expect(error.message).toBe(
        `mysql stopped reading ${file} before its end (it ends inside a quoted string begun at line 3); ${db.name} holds only what mysql ran before it stopped — load a complete dump into an empty database`,
      )
      expect(await rows(db, 'SELECT s FROM a')).toEqual([{s: 'x'}])
    })
  })

  it.each(['system', '\\!'])('%s is refused and never runs', async (command) => {
    await withDb('mysql', async (db, dir) => {
      const marker = join(dir, 'ran')
      const file = join(dir, 'bang.sql')
      writeFileSync(file, `CREATE TABLE a (n int);\n${command} touch ${marker}\nCREATE TABLE b (n int);\n`)
      const error = await failure(loadDump(db.target, file))
      expect(error.message).toMatch(/has the mysql command .* at line 2, .*; nothing was loaded into /)
      expect(existsSync(marker)).toBe(false)
      expect(await tables(db)).toEqual([])
    })
  })

  it('command-like text in strings and routines is loaded as data, byte for byte (mariadb-dump, gzip too)', async () => {
    await withDb('mysql', async (source, dir) => {
      const marker = join(dir, 'ran')
      await rows(source, 'CREATE TABLE t (id int PRIMARY KEY, s text, b blob)')
      const texts = [
        `\\! touch ${marker}\nquit\n\\q`,
        'it\'s "q" `b` -- # /* x',
        `system touch ${marker}\n\\. /etc/passwd`,
      ]
      const client = dbClient(source.target)
      for (const [i, s] of texts.entries()) await client.query('INSERT INTO t VALUES (?, ?, ?)', [i, s, Buffer.from(s)])
      await client.query(`CREATE PROCEDURE p() SELECT 'quit\n\\\\! touch ${marker}' AS x`)
      await client.close()
      const dump = join(dir, 'dump.sql')
      execFileSync('mysqldump', ['-h', '127.0.0.1', '-u', 'root', '--routines', `--result-file=${dump}`, source.name])
      for (const file of [dump, `${dump}.gz`]) {
        if (file.endsWith('.gz')) writeFileSync(file, gzipSync(readFileSync(dump)))
        const copy = await createTestDatabase('mysql')
        try {
          await loadDump(copy.target, file)
          const read = 'SELECT id, s, HEX(b) AS b FROM t ORDER BY id'
          expect(await rows(copy, read)).toEqual(await rows(source, read))
          expect((await rows(copy, 'SELECT s FROM t ORDER BY id')).map((r) => (r as {s: string}).s)).toEqual(texts)
          const body = (db: TestDatabase) =>
            `SELECT routine_definition AS d FROM information_schema.routines WHERE routine_schema = '${db.name}'`
          expect(await rows(copy, body(copy))).toEqual(await rows(source, body(source)))
        } finally {
          await copy.drop()
        }
      }
      expect(existsSync(marker)).toBe(false)
    })
  })

  it('a dump whose SELECTs print a lot still loads', async () => {
    await withDb('mysql', async (db, dir) => {
      const file = join(dir, 'loud.sql')
      writeFileSync(file, `${"SELECT REPEAT('x', 1000000);\n".repeat(40)}CREATE TABLE done (n int);\n`)
      await loadDump(db.target, file)
      expect(await tables(db)).toEqual(['done'])
    })
  })
})
