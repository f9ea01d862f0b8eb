import type mysql from 'mysql2/promise'
import {BkError, messageOf} from '../errors.js'
import type {CreateDatabaseOptions, DbClient, DropUserOptions, UserOptions} from './client.js'
import {mysqlConnectionConfig} from './connect.js'
import {loadMysqlPromise} from './drivers.js'
import {dbFailure} from './failure.js'
import {quoteMysqlIdent} from './quote.js'
import type {DbTarget} from './url.js'

export class MysqlClient implements DbClient {
  private connection?: Promise<mysql.Connection>

  constructor(readonly target: DbTarget) {}

  private connect(): Promise<mysql.Connection> {
    this.connection ??= (async () => {
      const config = mysqlConnectionConfig(this.target)
      try {
        const {createConnection} = await loadMysqlPromise()
        const connection = await createConnection(config)
        connection.on('error', () => {}) // a dropped connection fails the next query instead of the process
        return connection
      } catch (error) {
        this.connection = undefined
        throw this.fail(error)
      }
    })()
    return this.connection
  }

  private fail(error: unknown, database?: string): BkError {
    if (error instanceof BkError) return error
    const e = error as {code?: string; errno?: number}
    return dbFailure(this.target, {code: e.code, errno: e.errno, message: messageOf(error)}, {cause: error, database})
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const connection = await this.connect()
    try {
      const [rows] = await connection.query(sql, params)
      return (Array.isArray(rows) ? rows : []) as T[]
    } catch (error) {
      throw this.fail(error)
    }
  }

  async serverVersion(): Promise<string> {
    const rows = await this.query<{v: string}>('SELECT VERSION() AS v')
    const version = String(rows[0]?.v ?? '')
    const number = version.split('-')[0]
    return /mariadb/i.test(version) ? `MariaDB ${number}` : `MySQL ${number}`
  }

  async databaseExists(name: string): Promise<boolean> {
    const rows = await this.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [name])
    return rows.length > 0
  }

  async createDatabase(name: string, options: CreateDatabaseOptions = {}): Promise<void> {
    let sql = `CREATE DATABASE ${quoteMysqlIdent(name)}`
    if (options.encoding) sql += ` CHARACTER SET ${sqlWord(options.encoding)}`
    if (options.collation) sql += ` COLLATE ${sqlWord(options.collation)}`
    await this.query(sql)
    if (options.owner) {
      const [user, host] = splitAccount(options.owner)
      await this.grantAll(name, user, {host})
    }
  }

  async dropDatabase(name: string): Promise<void> {
    await this.query(`DROP DATABASE IF EXISTS ${quoteMysqlIdent(name)}`)
  }

  async userExists(name: string, options: UserOptions = {}): Promise<boolean> {
    const rows = await this.query('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [name, options.host ?? '%'])
    return rows.length > 0
  }

  async createUser(name: string, password: string, options: UserOptions = {}): Promise<void> {
    await this.query('CREATE USER ?@? IDENTIFIED BY ?', [name, options.host ?? '%', password])
  }

  async dropUser(name: string, options: DropUserOptions = {}): Promise<void> {
    await this.query('DROP USER IF EXISTS ?@?', [name, options.host ?? '%'])
  }

  async grantAll(db: string, user: string, options: UserOptions = {}): Promise<void> {
    // In GRANT, '_' and '%' in a database name are wildcards: escape them so only this database is meant.
    const dbPattern = quoteMysqlIdent(db.replace(/([_%\\])/g, '\\$1'))
    await this.query(`GRANT ALL PRIVILEGES ON ${dbPattern}.* TO ?@?`, [user, options.host ?? '%'])
  }

  async listTables(db?: string): Promise<string[]> {
    const schema = this.schemaOf(db)
    const rows = await this.query<{name: string}>(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name`,
      [schema],
    )
    if (rows.length === 0 && !(await this.databaseExists(schema))) {
      throw dbFailure(this.target, {errno: 1049, message: `Unknown database '${schema}'`}, {database: schema})
    }
    return rows.map((row) => String(row.name)).sort()
  }

  async tableCounts(db?: string): Promise<Record<string, number>> {
    const schema = this.schemaOf(db)
    const counts: Record<string, number> = {}
    for (const table of await this.listTables(schema)) {
      const rows = await this.query<{n: number | string}>(
        `SELECT COUNT(*) AS n FROM ${quoteMysqlIdent(schema)}.${quoteMysqlIdent(table)}`,
      )
      counts[table] = Number(rows[0]?.n ?? 0)
    }
    return counts
  }

  private schemaOf(db?: string): string {
    const schema = db ?? this.target.database
    if (!schema) throw new BkError('no database given: name one (the URL has no /database part)', {code: 'EDBMISSING'})
    return schema
  }

  async close(): Promise<void> {
    const connection = this.connection
    this.connection = undefined
    if (!connection) return
    const conn = await connection.catch(() => undefined)
    await conn?.end().catch(() => {})
  }
}

function sqlWord(word: string): string {
  if (!/^\w+$/.test(word)) throw new BkError(`invalid character set or collation '${word}'`, {code: 'EDBARG'})
  return word
}

function splitAccount(account: string): [string, string] {
  const at = account.lastIndexOf('@')
  return at > 0 ? [account.slice(0, at), account.slice(at + 1)] : [account, '%']
}
