/**
 * One SQL access layer over better-sqlite3, pg and mysql2: open a connection from a URL or an SQLite path, run
 * queries, stream rows through cursors, insert in batches, quote identifiers per dialect. It knows no
 * application schema.
 */
export {openSql, withSql} from './open.js'
export {quoteIdent} from './quote.js'
export type {OpenSqlOptions, SqlConnection, SqlRow} from './types.js'
