import {execFileSync, spawn} from 'node:child_process'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {
  createTestDatabase,
  dropTestLeftovers,
  extractFixture,
  fixturePath,
  requireServer,
  type ServerEngine,
  type TestDatabase,
  tempDir,
} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type DbClient, dbClient, dumpDatabase, loadDump} from '../src/db/index.js'

afterAll(dropTestLeftovers)

/** Tricky content: unicode, emoji, NULL, quotes, backslashes, newlines, binary bytes, a large value. */
const ROWS: [number, string | null, Buffer | null][] = [
  [1, 'plain', Buffer.from('bin')],
  [2, 'it\'s "quoted" \\ back\\slash\nnew line\ttab', Buffer.from([0, 1, 2, 0x27, 0x5c, 0xff])],
  [3, 'été 🙂 中文 — ünïcödé', null],
  [4, null, Buffer.alloc(0)],
  [5, 'x'.repeat(200_000), Buffer.alloc(70_000, 0xab)],
  [6, '-- not a comment; DROP TABLE t; /* nor this */', Buffer.from('\r\n')],
]

async function fill(client: DbClient, engine: ServerEngine): Promise<void> {
  if (engine === 'postgres') {
    await client.query('CREATE TABLE items (id integer PRIMARY KEY, label text, data bytea)')
    await client.query('CREATE TABLE "Mixed Case" (n serial PRIMARY KEY, v numeric(12,4))')
    await client.query('CREATE VIEW item_labels AS SELECT id, label FROM items')
    for (const [id, label, data] of ROWS) await client.query('INSERT INTO items VALUES ($1, $2, $3)', [id, label, data])
    await client.query('INSERT INTO "Mixed Case" (v) SELECT g * 1.5 FROM generate_series(1, 2500) g')
  } else {
    await client.query('CREATE TABLE items (id int PRIMARY KEY, label longtext, data longblob)')
    await client.query('CREATE TABLE `Mixed Case` (n int AUTO_INCREMENT PRIMARY KEY, v decimal(12,4))')
    await client.query('CREATE VIEW item_labels AS SELECT id, label FROM items')
    await client.query(
      'CREATE TRIGGER items_touch BEFORE INSERT ON items FOR EACH ROW SET NEW.label = COALESCE(NEW.label, NULL)',
    )
    for (const [id, label, data] of ROWS) await client.query('INSERT INTO items VALUES (?, ?, ?)', [id, label, data])
    await client.query('INSERT INTO `Mixed Case` (v) SELECT seq * 1.5 FROM seq_1_to_2500')
  }
}

/** Every row of a table, ordered, as JSON: compared between source and copy. */
async function contents(client: DbClient, table: string, engine: ServerEngine): Promise<string> {
  const q = engine === 'postgres' ? `"${table}"` : `\`${table}\``
  const rows = await client.query(`SELECT * FROM ${q} ORDER BY 1`)
  return JSON.stringify(rows, (_key, value) =>
    value && value.type === 'Buffer' && Array.isArray(value.data) ? Buffer.from(value.data).toString('hex') : value,
  )
}

for (const engine of ['postgres', 'mysql'] as const) {
  describe(`${engine} server`, () => {
    let source: TestDatabase
    let client: DbClient

    beforeAll(async () => {
      await requireServer(engine)
      source = await createTestDatabase(engine)
      client = dbClient(source.target)
      await fill(client, engine)
    })
    afterAll(async () => {
      await client?.close()
      await source?.drop()
    })

    it('reports the server version', async () => {
      expect(await client.serverVersion()).toMatch(
        engine === 'postgres' ? /^PostgreSQL \d+\.\d+/ : /^(MariaDB|MySQL) \d+\.\d+/,
      )
    })

    it('lists tables and counts rows exactly', async () => {
      expect(await client.listTables()).toEqual(
        engine === 'postgres' ? ['Mixed Case', 'items'] : ['Mixed Case', 'items'],
      )
      expect(await client.tableCounts()).toEqual({'Mixed Case': 2500, items: 6})
    })

    it('creates, detects and drops databases and users, quoting names safely', async () => {
      const admin = dbClient({...source.target, database: undefined})
      const weird = `${source.name}_x"y\`z; DROP`
      try {
        expect(await admin.databaseExists(source.name)).toBe(true)
        expect(await admin.databaseExists(weird)).toBe(false)
        await admin.createDatabase(weird)
        expect(await admin.databaseExists(weird)).toBe(true)
        expect(await admin.tableCounts(weird)).toEqual({})
        await admin.dropDatabase(weird)
        expect(await admin.databaseExists(weird)).toBe(false)
        await admin.dropDatabase(weird) // absent: no error
        const user = `${source.name}_u`
        await admin.createUser(user, "pa'ss\\word")
        expect(await admin.userExists(user)).toBe(true)
        await admin.grantAll(source.name, user)
        await admin.dropUser(user, {cascade: true})
        expect(await admin.userExists(user)).toBe(false)
      } finally {
        await admin.dropUser(`${source.name}_u`, {cascade: true}).catch(() => {})
        await admin.dropDatabase(weird).catch(() => {})
        await admin.close()
      }
    })

    for (const gzip of [false, true]) {
      it(`dumps and loads back identical data (gzip: ${gzip})`, async () => {
        const dir = tempDir()
        const file = join(dir, gzip ? 'dump.sql.gz' : 'dump.sql')
        let progressed = 0
        const result = await dumpDatabase(source.target, file, {gzip, onProgress: (bytes) => (progressed = bytes)})
        expect(result.bytes).toBe(statSync(file).size)
        expect(statSync(file).mode & 0o777).toBe(0o600)
        expect(readdirSync(dir)).toEqual([gzip ? 'dump.sql.gz' : 'dump.sql'])
        const raw = readFileSync(file)
        const sql = gzip ? gunzipSync(raw) : raw
        const text = sql.toString('utf8')
        expect(progressed).toBe(sql.length)
        expect(text).toContain(engine === 'postgres' ? 'PostgreSQL database dump complete' : '-- Dump completed')

        const copy = await createTestDatabase(engine)
        const copyClient = dbClient(copy.target)
        try {
          await loadDump(copy.target, file)
          expect(await copyClient.tableCounts()).toEqual(await client.tableCounts())
          for (const table of ['items', 'Mixed Case', 'item_labels']) {
            expect(await contents(copyClient, table, engine), table).toBe(await contents(client, table, engine))
          }
        } finally {
          await copyClient.close()
          await copy.drop()
        }
      })
    }

    it('loads a gzip dump given as a pipe (<(cat dump.sql.gz)): the format is sniffed from the bytes fed', async () => {
      const dir = tempDir()
      const file = join(dir, 'dump.sql.gz')
      await dumpDatabase(source.target, file, {gzip: true})
      const fifo = join(dir, 'pipe')
      execFileSync('mkfifo', [fifo])
      const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', file, fifo], {stdio: 'ignore'})
      const copy = await createTestDatabase(engine)
      const copyClient = dbClient(copy.target)
      try {
        await loadDump(copy.target, fifo)
        expect(await copyClient.tableCounts()).toEqual(await client.tableCounts())
        expect(await contents(copyClient, 'Mixed Case', engine)).toBe(await contents(client, 'Mixed Case', engine))
      } finally {
        writer.kill()
        await copyClient.close()
        await copy.drop()
      }
    })

    it('dumps with CREATE DATABASE and loads it under another name (skip and rewrite)', async () => {
      const dir = tempDir()
      const file = join(dir, 'create.sql')
      await dumpDatabase(source.target, file, {createDatabase: true, routines: true, events: true})
      const text = readFileSync(file, 'utf8')
      expect(text).toMatch(/CREATE DATABASE/)
      expect(text).toContain(source.name)

      const copy = await createTestDatabase(engine)
      await loadDump(copy.target, file) // 'skip': into the existing copy
      const copyClient = dbClient(copy.target)
      expect(await copyClient.tableCounts()).toEqual({'Mixed Case': 2500, items: 6})
      await copyClient.close()
      await copy.drop()

      // 'rewrite': the dump creates the database itself, under the new name.
      await loadDump(copy.target, file, {createStatements: 'rewrite'})
      const again = dbClient(copy.target)
      try {
        expect(await contents(again, 'items', engine)).toBe(await contents(client, 'items', engine))
      } finally {
        await again.close()
        await copy.drop()
      }
      // The source was not touched by either load.
      expect(await client.tableCounts()).toEqual({'Mixed Case': 2500, items: 6})
    })

    it("'rewrite' of a dump without CREATE DATABASE creates the target and loads there, not where the client started", async () => {
      const file = join(tempDir(), 'plain.sql')
      await dumpDatabase(source.target, file)
      const copy = await createTestDatabase(engine)
      await copy.drop()
      await loadDump(copy.target, file, {createStatements: 'rewrite'})
      const copyClient = dbClient(copy.target)
      try {
        expect(await copyClient.tableCounts()).toEqual({'Mixed Case': 2500, items: 6})
      } finally {
        await copyClient.close()
        await copy.drop()
      }
      if (engine === 'postgres') {
        const maintenance = dbClient({...source.target, database: 'postgres'})
        expect(await maintenance.listTables()).not.toContain('items')
        await maintenance.close()
      }
    })

    it('stops at the first error, and a single-transaction load leaves nothing behind', async () => {
      const dir = tempDir()
      const file = join(dir, 'bad.sql')
      const good =
        engine === 'postgres'
          ? 'CREATE TABLE t1 (a int);\nINSERT INTO t1 VALUES (1);\n'
          : 'CREATE TABLE t1 (a int);\nINSERT INTO t1 VALUES (1);\n'
      const {writeFileSync} = await import('node:fs')
      writeFileSync(file, `${good}INSERT INTO no_such_table VALUES (1);\nCREATE TABLE t2 (a int);\n`)
      const copy = await createTestDatabase(engine)
      const copyClient = dbClient(copy.target)
      try {
        const error = await loadDump(copy.target, file).catch((e: Error) => e)
        expect(error).toMatchObject({name: 'BkError'})
        expect((error as Error).message).toMatch(/no_such_table/)
        expect((error as Error).message).not.toContain('\n')
        const tables = await copyClient.listTables()
        expect(tables).not.toContain('t2')
        if (engine === 'postgres') expect(tables).toEqual([]) // rolled back as a whole
      } finally {
        await copyClient.close()
        await copy.drop()
      }
    })

    if (engine === 'mysql') {
      it('strips DEFINER clauses when asked', async () => {
        const dir = tempDir()
        const plain = join(dir, 'plain.sql')
        const stripped = join(dir, 'stripped.sql')
        await dumpDatabase(source.target, plain)
        await dumpDatabase(source.target, stripped, {stripDefiner: true})
        expect(readFileSync(plain, 'utf8')).toMatch(/DEFINER=`root`@`(localhost|127\.0\.0\.1|%)`/)
        const text = readFileSync(stripped, 'utf8')
        expect(text).not.toMatch(/DEFINER=/)
        expect(text).toMatch(/TRIGGER/)
        const inserts = (t: string) => t.split('\n').filter((line) => line.startsWith('INSERT INTO'))
        expect(inserts(text)).toEqual(inserts(readFileSync(plain, 'utf8'))) // data untouched
        expect(inserts(text).length).toBeGreaterThan(0)
      })
    }
  })
}

describe('Trac fixtures', () => {
  it('loads trac-admin hotcopy’s pg_dump -C dump under a new name with the recorded row counts', async () => {
    await requireServer('postgres')
    const dir = extractFixture('trac', 'postgres-hotcopy')
    const dump = join(dir, 'postgres-hotcopy', 'db', 'postgres-db-backup.sql.gz')
    const expected = JSON.parse(readFileSync(fixturePath('trac', 'postgres-counts.json'), 'utf8')) as Record<
      string,
      number
    >
    for (const mode of ['skip', 'rewrite'] as const) {
      const db = await createTestDatabase('postgres')
      if (mode === 'rewrite') await db.drop()
      await loadDump(db.target, dump, {createStatements: mode})
      const client = dbClient(db.target)
      try {
        const counts = await client.tableCounts()
        for (const [table, rows] of Object.entries(expected)) {
          if (table !== 'database_version') expect(counts[table], `${mode} ${table}`).toBe(rows)
        }
        const version = await client.query<{value: string}>("SELECT value FROM system WHERE name = 'database_version'")
        expect(Number(version[0]?.value)).toBe(expected.database_version)
        // The fixture's own database name was not used.
        expect(await client.databaseExists('trac_fixture')).toBe(false)
      } finally {
        await client.close()
        await db.drop()
      }
    }
  })

  it('loads the MySQL hotcopy dump with the recorded row counts', async () => {
    await requireServer('mysql')
    const dir = extractFixture('trac', 'mysql-hotcopy')
    const dump = join(dir, 'mysql-hotcopy', 'db', 'mysql-db-backup.sql')
    const expected = JSON.parse(readFileSync(fixturePath('trac', 'mysql-counts.json'), 'utf8')) as Record<
      string,
      number
    >
    const db = await createTestDatabase('mysql')
    const client = dbClient(db.target)
    try {
      await loadDump(db.target, dump)
      const counts = await client.tableCounts()
      for (const [table, rows] of Object.entries(expected)) {
        if (table !== 'database_version') expect(counts[table], table).toBe(rows)
      }
      // Dumped again by bk, the data is the same (the unicode text survives the round trip).
      const redump = join(dir, 'redump.sql')
      await dumpDatabase(db.target, redump)
      const fixtureInserts = readFileSync(dump, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('INSERT INTO'))
      const ourInserts = readFileSync(redump, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('INSERT INTO'))
      expect(ourInserts).toEqual(fixtureInserts)
    } finally {
      await client.close()
      await db.drop()
    }
  })

  it('the pg dump bk makes of the fixture is what pg_dump itself makes (psql-restorable)', async () => {
    await requireServer('postgres')
    const dir = extractFixture('trac', 'postgres-hotcopy')
    const db = await createTestDatabase('postgres')
    try {
      await loadDump(db.target, join(dir, 'postgres-hotcopy', 'db', 'postgres-db-backup.sql.gz'))
      const ours = join(dir, 'ours.sql')
      await dumpDatabase(db.target, ours, {extraArgs: ['--inserts', '-x']})
      const direct = execFileSync(
        'pg_dump',
        ['-h', '127.0.0.1', '-p', '5432', '-U', 'root', '--inserts', '-x', db.name],
        {
          maxBuffer: 64 * 1024 * 1024,
        },
      ).toString('utf8')
      const strip = (text: string) =>
        text
          .split('\n')
          .filter((l) => !/^\\(un)?restrict /.test(l))
          .join('\n')
      expect(strip(readFileSync(ours, 'utf8'))).toBe(strip(direct))
    } finally {
      await db.drop()
    }
  })
})
