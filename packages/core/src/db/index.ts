export {
  type CreateDatabaseOptions,
  type DbClient,
  type DropUserOptions,
  dbClient,
  type UserOptions,
  withDbClient,
} from './client.js'
export {mysqlConnectionConfig, pgConnectionConfig} from './connect.js'
export {connectMysql, connectPostgres} from './driver.js'
export {
  loadDriverModule,
  loadMysql,
  loadMysqlPromise,
  loadPg,
  loadSqlite,
  type MysqlDriver,
  type MysqlPromiseDriver,
  type PgDriver,
  type SqliteDriver,
} from './drivers.js'
export {type DumpOptions, type DumpResult, dumpDatabase} from './dump.js'
export {dbFailure} from './failure.js'
export {type LoadOptions, loadDump} from './load.js'
export {
  effectivePassword,
  type PasswordOptions,
  passwordFromEnv,
  resolvePassword,
} from './password.js'
export {quoteMysqlIdent, quotePgIdent} from './quote.js'
export {type OpenSqlOptions, openSql, quoteIdent, type SqlConnection, type SqlRow, withSql} from './sql/index.js'
export {type CreateStatements, createStatementsFilter, stripDefinerFilter} from './sql-stream.js'
export {
  type SqliteBackupOptions,
  type SqliteBackupResult,
  sqliteBackup,
  sqliteIntegrityCheck,
  sqliteTableCounts,
} from './sqlite.js'
export {type ClientTool, findClientTool, type SecretChannel} from './tools.js'
export {
  type DbEngine,
  type DbTarget,
  DEFAULT_PORTS,
  describeServer,
  formatDbUrl,
  parseDbUrl,
  redactUrl,
  serverName,
  urlHasPassword,
  warnIfPasswordInArgv,
} from './url.js'
