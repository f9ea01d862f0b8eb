import type {DbTarget} from '@bkcli/core/db'
import type {SiteDatabase} from './drupal/credentials.js'

/** The core database target for a site's own credentials (what the site itself connects with). */
export function siteTarget(
  db: Pick<SiteDatabase, 'engine' | 'host' | 'port' | 'username' | 'password' | 'database'>,
): DbTarget {
  return {
    engine: db.engine,
    host: db.host,
    port: db.port ?? (db.engine === 'mysql' ? 3306 : 5432),
    user: db.username,
    password: db.password,
    database: db.database,
    params: {},
  }
}
