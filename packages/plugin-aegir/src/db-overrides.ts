import {parseDbUrl, resolvePassword, warnIfPasswordInArgv} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import type {DatabaseOverrides} from './drupal/credentials.js'

/** Site credentials given by --db-url (+ BK_DB_PASSWORD / --password-file) for a cloaked settings.php. */
export async function overridesFromUrl(
  url: string | undefined,
  passwordFile: string | undefined,
  warn: (message: string) => void,
  /** `db-password` from the config file. */
  configPassword?: string,
): Promise<DatabaseOverrides | undefined> {
  if (!url) return undefined
  warnIfPasswordInArgv(url, warn)
  const target = parseDbUrl(url)
  if (target.engine === 'sqlite') throw new BkError('--db-url must be a mysql:// or postgres:// URL')
  const password = (await resolvePassword(target, {passwordFile})) ?? configPassword
  return {
    driver: target.engine === 'postgres' ? 'pgsql' : 'mysql',
    database: target.database,
    username: target.user,
    password,
    host: target.host ?? target.socket,
    port: target.port,
  }
}
