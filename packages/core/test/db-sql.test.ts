/** Core's SQL layer (`openSql`) against a real SQLite file, PostgreSQL and MariaDB: the same calls, the same rows. */
import {randomBytes} from 'node:crypto'
import {rm} from 'node:fs/promises'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type DbEngine, openSql, quoteIdent, type SqlConnection, withSql} from '../src/index.js'

const name = `bk_core_sql_${process.pid}_${randomBytes(3).toString('hex')}`
const PG = 'postgres://root@127.0.0.1:5432'
const MY = 'mysql://root@127.0.0.1:3306'
let dir: string

beforeAll(async () => {
  dir = await tempDir('bk-sql-')
  await withSql(`${PG}/postgres`, (db) => db.run(`CREATE DATABASE ${quoteIdent('postgres', name)}`))
  await withSql(`${MY}/mysql`, (db) => db.run(`CREATE DATABASE ${quoteIdent('mysql', name)}`))
})

afterAll(async () => {
  await withSql(`${PG}/postgres`, (db) =>
    db.run(`DROP DATABASE IF EXISTS ${quoteIdent('postgres', name)} WITH (FORCE)`),
  )
  await withSql(`${MY}/mysql`, (db) => db.run(`DROP DATABASE IF EXISTS ${quoteIdent('mysql', name)}`))
  await rm(dir, {recursive: true, force: true})
})

const open = (engine: DbEngine): Promise<SqlConnection> =>
  engine === 'sqlite'
    ? openSql(join(dir, 'test.db'), {create: true, exactIntegers: true})
    : openSql(`${engine === 'postgres' ? PG : MY}/${name}`, {exactIntegers: true})

describe.each(['sqlite', 'postgres', 'mysql'] as const)('openSql on %s', (engine) => {
  it('creates, inserts in batches, streams with a cursor, rolls back and quotes identifiers', async () => {
    const db = await open(engine)
    try {
      const t = 'odd "name`'
      const big = engine === 'mysql' ? 'bigint' : engine === 'postgres' ? 'bigint' : 'integer'
      await db.run(`CREATE TABLE ${db.quoteIdent(t)} (${db.quoteIdent('id')} ${big}, ${db.quoteIdent('v')} text)`)
      const rows = Array.from({length: 2500}, (_, i) => [String(9_007_199_254_740_993n + BigInt(i)), `row ${i}`])
      await db.begin()
      await db.insertRows(t, ['id', 'v'], rows)
      await db.commit()
      expect(db.inTransaction).toBe(false)

      await db.begin()
      await db.insertRows(t, ['id', 'v'], [['1', 'gone']])
      await db.rollback()

      const counted = await db.all(`SELECT COUNT(*) FROM ${db.quoteIdent(t)}`)
      expect(Number(counted[0]![0])).toBe(2500)

      await db.begin('snapshot')
      const seen: unknown[][] = []
      let batches = 0
      for await (const batch of db.cursor(`SELECT id, v FROM ${db.quoteIdent(t)} ORDER BY id`, {batchSize: 1000})) {
        expect(batch.length).toBeLessThanOrEqual(1000)
        batches++
        seen.push(...batch)
      }
      await db.rollback()
      expect(batches).toBe(3)
      expect(seen.map((r) => String(r[0]))).toEqual(rows.map((r) => r[0]))
      expect(seen[2499]![1]).toBe('row 2499')

      const objects = await db.objects<{v: string}>(`SELECT v FROM ${db.quoteIdent(t)} WHERE v = ${db.param(1)}`, [
        'row 7',
      ])
      expect(objects).toEqual([{v: 'row 7'}])

      // column(): the first column of each row, in the query's order, params bound; then all() still gives arrays
      const values = await db.column(
        `SELECT v, id FROM ${db.quoteIdent(t)} WHERE v <> ${db.param(1)} ORDER BY id DESC`,
        ['row 2'],
      )
      expect(values).toEqual(
        rows
          .filter((r) => r[1] !== 'row 2')
          .map((r) => r[1])
          .reverse(),
      )
      expect(await db.all(`SELECT v FROM ${db.quoteIdent(t)} WHERE v = ${db.param(1)}`, ['row 3'])).toEqual([['row 3']])
      // exactIntegers holds for column() as for all() and cursor(): ids past 2^53 exact
      const ids = await db.column(`SELECT id FROM ${db.quoteIdent(t)} ORDER BY id`)
      expect(ids.map(String)).toEqual(rows.map((r) => r[0]))
    } finally {
      await db.close()
      await db.close()
    }
  })
})

it('loads PostgreSQL rows through COPY with the values an INSERT stores; a failed load leaves the connection usable', async () => {
  const db = await open('postgres')
  try {
    const t = 'copy "rows'
    await db.run(
      `CREATE TABLE ${db.quoteIdent(t)} (id integer primary key, s text, b boolean, f double precision, n bigint)`,
    )
    const odd = ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash \\N \\.', '\\', '', 'ünï €𝄞', 'x\t\\n\r\n']
    const rows: unknown[][] = odd.map((s, i) => [i + 1, s, i % 2 === 0, i + 0.25, 9_007_199_254_740_993n + BigInt(i)])
    rows.push([100, null, null, null, null], [101, 'the string NULL', true, -0.5, '12'])
    await db.insertRows(t, ['id', 's', 'b', 'f', 'n'], rows)
    const back = await db.all(`SELECT id, s, b, f, n::text FROM ${db.quoteIdent(t)} ORDER BY id`)
    expect(back).toEqual(rows.map((r) => [r[0], r[1], r[2], r[3], r[4] === null ? null : String(r[4])]))
    await db.begin()
    await expect(db.insertRows(t, ['id', 's'], [[1, 'duplicate']])).rejects.toThrow(/duplicate key/)
    await db.rollback()
    // a Buffer is not a plain value: that call takes the INSERT path (the bytes as a binary parameter)
    await db.insertRows(t, ['id', 's'], [[102, Buffer.from('bytes') as unknown as string]])
    expect(await db.all(`SELECT count(*)::int FROM ${db.quoteIdent(t)}`)).toEqual([[rows.length + 1]])
  } finally {
    await db.close()
  }
})

it('opens an SQLite path or an sqlite: URL, and names the file when it cannot', async () => {
  await expect(openSql(join(dir, 'missing.db'))).rejects.toThrow(/cannot open the SQLite database .*missing\.db/)
  const db = await openSql(`sqlite:${join(dir, 'url.db')}`, {create: true})
  await db.run('CREATE TABLE a (x); CREATE TABLE b (y)')
  expect((await db.all('SELECT name FROM sqlite_master ORDER BY name')).map((r) => r[0])).toEqual(['a', 'b'])
  await db.close()
})
