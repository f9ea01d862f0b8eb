/**
 * A fresh, empty database for a tracker (import, migrate-backend): created if missing, refused if it holds
 * tables, and removed again when the work fails — so a failure never leaves a partial database behind.
 */
import {existsSync} from 'node:fs'
import {mkdir, rename, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {type DbClient, dbClient} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import type {Tracker} from './tracker.js'
import {connect, openSqlite, rdbmsTarget, type SqlConn, sqlitePath, withConfigHint} from './tracker-db.js'

/** Core's client for the tracker's server, connected to no database of the tracker's (CREATE/DROP DATABASE). */
function serverClient(tracker: Tracker): DbClient {
  return dbClient(rdbmsTarget(tracker.rdbms, tracker.backend === 'postgresql' ? 'postgres' : 'mysql'))
}

async function withServer<T>(tracker: Tracker, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = serverClient(tracker)
  try {
    return await fn(client)
  } catch (error) {
    throw withConfigHint(error)
  } finally {
    await client.close()
  }
}

export interface FreshDatabase {
  conn: SqlConn
  /** bk created the database (PostgreSQL/MySQL; sqlite: always a new file) */
  created: boolean
  /** make the work permanent (sqlite: move the staged file into place) */
  commit(): Promise<void>
  /** undo everything (drop what was created) */
  abort(): Promise<void>
}

export async function openFreshDatabase(tracker: Tracker): Promise<FreshDatabase> {
  if (tracker.backend === 'sqlite') return freshSqlite(tracker)
  if (tracker.backend === 'postgresql') return freshPostgres(tracker)
  return freshMysql(tracker)
}

async function freshSqlite(tracker: Tracker): Promise<FreshDatabase> {
  const final = sqlitePath(tracker)
  if (existsSync(final)) {
    throw new BkError(
      `${final} already exists; bk imports only into a fresh, empty database (move the old db away or use a new tracker home)`,
    )
  }
  await mkdir(tracker.dbDir, {recursive: true})
  const stage = join(tracker.dbDir, `.db.bk-stage-${process.pid}`)
  await rm(stage, {force: true})
  const conn = await openSqlite(stage, {create: true})
  await conn.run('pragma journal_mode=delete')
  await conn.begin()
  return {
    conn,
    created: true,
    async commit() {
      await conn.commit()
      await conn.run('pragma journal_mode=wal')
      await conn.close()
      await rename(stage, final)
    },
    async abort() {
      await conn.rollback().catch(() => {})
      await conn.close().catch(() => {})
      await rm(stage, {force: true})
      await rm(`${stage}-journal`, {force: true})
    },
  }
}

async function freshPostgres(tracker: Tracker): Promise<FreshDatabase> {
  const s = tracker.rdbms
  if (s.name.includes('.')) {
    throw new BkError(`[rdbms] name ${s.name} names a PostgreSQL schema; bk imports only into a whole database`)
  }
  const created = await withServer(tracker, async (client) => {
    if (await client.databaseExists(s.name)) return false
    await client.createDatabase(s.name, {encoding: 'UTF8'})
    return true
  })
  const conn = await connect(tracker)
  if (!created) {
    const tables = await conn.all(
      "select count(*) from information_schema.tables where table_schema not in ('pg_catalog','information_schema')",
    )
    if (Number(tables[0]?.[0]) > 0) {
      await conn.close()
      throw new BkError(
        `PostgreSQL database ${s.name} already exists and is not empty; bk writes only into a fresh database (set [rdbms] name or --backend-url to a new name, or drop it first)`,
      )
    }
  }
  await conn.begin()
  const drop = async () => {
    if (created) await withServer(tracker, (client) => client.dropDatabase(s.name, {force: true}))
  }
  return {
    conn,
    created,
    async commit() {
      await conn.commit()
      await conn.close()
    },
    async abort() {
      await conn.rollback().catch(() => {})
      await conn.close()
      await drop()
    },
  }
}

async function freshMysql(tracker: Tracker): Promise<FreshDatabase> {
  const s = tracker.rdbms
  const created = await withServer(tracker, async (client) => {
    if (!(await client.databaseExists(s.name))) {
      await client.createDatabase(s.name, {encoding: s.mysqlCharset, collation: s.mysqlCollation})
      return true
    }
    if ((await client.listTables(s.name)).length > 0) {
      throw new BkError(
        `MySQL database ${s.name} already exists and is not empty; bk writes only into a fresh database (set [rdbms] name or --backend-url to a new name, or drop it first)`,
      )
    }
    return false
  })
  const conn = await connect(tracker)
  await conn.begin()
  return {
    conn,
    created,
    async commit() {
      await conn.commit()
      await conn.close()
    },
    async abort() {
      // MySQL DDL is not transactional: remove what was made
      await conn.rollback().catch(() => {})
      if (created) {
        await conn.close()
        await withServer(tracker, (client) => client.dropDatabase(s.name)).catch(() => {})
        return
      } else {
        const tables = await conn.all('select table_name from information_schema.tables where table_schema = ?', [
          s.name,
        ])
        for (const [t] of tables) await conn.run(`DROP TABLE IF EXISTS \`${String(t)}\``).catch(() => {})
      }
      await conn.close()
    },
  }
}

/**
 * For loading a dump with the real client: the tracker's database created (or found empty), nothing else.
 * `drop()` removes it again if bk created it (else empties it).
 */
export async function prepareEmptyDatabase(tracker: Tracker): Promise<{created: boolean; drop(): Promise<void>}> {
  if (tracker.backend === 'sqlite') throw new Error('prepareEmptyDatabase is for PostgreSQL and MySQL')
  const fresh = await openFreshDatabase(tracker)
  await fresh.commit()
  return {
    created: fresh.created,
    async drop() {
      await dropDatabaseOf(tracker)
    },
  }
}

/** Drop a tracker's PostgreSQL/MySQL database (after a failed restore or migration into it). */
export async function dropDatabaseOf(tracker: Tracker): Promise<void> {
  if (tracker.backend === 'sqlite') return
  const name = tracker.rdbms.name.split('.', 1)[0] as string
  await withServer(tracker, (client) => client.dropDatabase(name, {force: tracker.backend === 'postgresql'}))
}
