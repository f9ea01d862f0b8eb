import type pg from 'pg'
import {BkError, messageOf} from '../errors.js'
import type {CreateDatabaseOptions, DbClient, DropUserOptions} from './client.js'
import {pgConnectionConfig} from './connect.js'
import {loadPg} from './drivers.js'
import {dbFailure} from './failure.js'
import {quotePgIdent, quotePgLiteral} from './quote.js'
import type {DbTarget} from './url.js'

const TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
   ORDER BY 1, 2`

export class PgClient implements DbClient {
  private connection?: Promise<pg.Client>
  private lastError?: unknown

  constructor(
    readonly target: DbTarget,
    private readonly database?: string,
  ) {}

  private connect(): Promise<pg.Client> {
    this.connection ??= (async () => {
      const config = pgConnectionConfig(this.target, this.database)
      const {Client} = await loadPg()
      const client = new Client(config)
      // A server-side disconnect must not crash the process: remember it, the next query fails with it.
      client.on('error', (error) => {
        this.lastError = error
      })
      try {
        await client.connect()
      } catch (error) {
        this.connection = undefined
        await client.end().catch(() => {})
        throw this.fail(error, config.database)
      }
      return client
    })()
    return this.connection
  }

  private fail(error: unknown, database?: string): BkError {
    if (error instanceof BkError) return error
    const e = error as {code?: string; message?: string}
    return dbFailure(
      this.target,
      {code: e.code, message: messageOf(error)},
      {cause: error, database: database ?? this.database},
    )
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = await this.connect()
    try {
      const result = await client.query(sql, params)
      return result.rows as T[]
    } catch (error) {
      throw this.fail(error ?? this.lastError)
    }
  }

  async serverVersion(): Promise<string> {
    const rows = await this.query<{v: string}>("SELECT current_setting('server_version') AS v")
    return `PostgreSQL ${String(rows[0]?.v ?? '').split(' ')[0]}`
  }

  async databaseExists(name: string): Promise<boolean> {
    const rows = await this.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    return rows.length > 0
  }

  async createDatabase(name: string, options: CreateDatabaseOptions = {}): Promise<void> {
    let sql = `CREATE DATABASE ${quotePgIdent(name)}`
    if (options.owner) sql += ` OWNER ${quotePgIdent(options.owner)}`
    if (options.encoding || options.collation) sql += ' TEMPLATE template0'
    if (options.encoding) sql += ` ENCODING ${quotePgLiteral(options.encoding)}`
    if (options.collation)
      sql += ` LC_COLLATE ${quotePgLiteral(options.collation)} LC_CTYPE ${quotePgLiteral(options.collation)}`
    await this.query(sql)
  }

  async dropDatabase(name: string, options: {force?: boolean} = {}): Promise<void> {
    await this.query(`DROP DATABASE IF EXISTS ${quotePgIdent(name)}${options.force ? ' WITH (FORCE)' : ''}`)
  }

  async userExists(name: string): Promise<boolean> {
    return (await this.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length > 0
  }

  async createUser(name: string, password: string): Promise<void> {
    // DDL takes no bind parameters: the password goes in as a quoted literal (never through argv).
    await this.query(`CREATE ROLE ${quotePgIdent(name)} LOGIN PASSWORD ${quotePgLiteral(password)}`)
  }

  async dropUser(name: string, options: DropUserOptions = {}): Promise<void> {
    if (options.cascade && (await this.userExists(name))) {
      const databases = await this.query<{datname: string}>(
        'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1',
      )
      for (const {datname} of databases) {
        await this.inDatabase(datname, (client) => client.query(`DROP OWNED BY ${quotePgIdent(name)}`))
      }
    }
    await this.query(`DROP ROLE IF EXISTS ${quotePgIdent(name)}`)
  }

  async grantAll(db: string, user: string): Promise<void> {
    const role = quotePgIdent(user)
    await this.query(`GRANT ALL PRIVILEGES ON DATABASE ${quotePgIdent(db)} TO ${role}`)
    // Since PostgreSQL 15 the public schema is not writable by everyone: grant inside the database too.
    await this.inDatabase(db, async (client) => {
      await client.query(`GRANT ALL ON SCHEMA public TO ${role}`)
      await client.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`)
      await client.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`)
    })
  }

  async listTables(db?: string): Promise<string[]> {
    return this.inDatabase(db, async (client) => (await client.tables()).map((t) => t.key).sort())
  }

  async tableCounts(db?: string): Promise<Record<string, number>> {
    return this.inDatabase(db, async (client) => {
      const counts: Record<string, number> = {}
      const tables = (await client.tables()).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      for (const table of tables) {
        const rows = await client.query<{n: string}>(
          `SELECT count(*) AS n FROM ${quotePgIdent(table.schema)}.${quotePgIdent(table.name)}`,
        )
        counts[table.key] = Number(rows[0]?.n ?? 0)
      }
      return counts
    })
  }

  private async tables(): Promise<{schema: string; name: string; key: string}[]> {
    const home = this.target.params.schema ?? 'public'
    const rows = await this.query<{schema: string; name: string}>(TABLES_SQL)
    return rows.map((row) => ({...row, key: row.schema === home ? row.name : `${row.schema}.${row.name}`}))
  }

  /** Run `fn` with a client connected to `db` (this one when it is already that database). */
  private async inDatabase<T>(db: string | undefined, fn: (client: PgClient) => Promise<T>): Promise<T> {
    const current = this.database ?? this.target.database ?? 'postgres'
    if (db === undefined || db === current) return fn(this)
    const other = new PgClient(this.target, db)
    try {
      return await fn(other)
    } finally {
      await other.close()
    }
  }

  async close(): Promise<void> {
    const connection = this.connection
    this.connection = undefined
    if (!connection) return
    const client = await connection.catch(() => undefined)
    await client?.end().catch(() => {})
  }
}
