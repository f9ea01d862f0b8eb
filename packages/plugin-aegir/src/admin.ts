import {readFile} from 'node:fs/promises'
import {type DbTarget, parseDbUrl, passwordFromEnv} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {DEFAULT_ADMIN_URL} from './naming.js'

export interface AdminSource {
  url?: string
  /** --db-admin-password-file */
  passwordFile?: string
  /** From the config file (`db-admin-password`). */
  configPassword?: string
  env?: NodeJS.ProcessEnv
}

/**
 * The database server's admin account, which creates and drops databases and users (restore, clone,
 * migrate). Its password: --db-admin-password-file, else BK_DB_ADMIN_PASSWORD, else the config file's
 * db-admin-password, else BK_DB_PASSWORD / MYSQL_PWD / PGPASSWORD; never from argv.
 */
export async function adminTarget(source: AdminSource = {}): Promise<DbTarget> {
  const target = parseDbUrl(source.url ?? DEFAULT_ADMIN_URL)
  if (target.engine === 'sqlite') throw new BkError('--db-admin-url must be a mysql:// or postgres:// URL')
  const env = source.env ?? process.env
  let password = target.password
  if (source.passwordFile) password = (await readFile(source.passwordFile, 'utf8')).replace(/\r?\n$/, '')
  else if (env.BK_DB_ADMIN_PASSWORD !== undefined) password = env.BK_DB_ADMIN_PASSWORD
  else if (password === undefined && source.configPassword !== undefined) password = source.configPassword
  else if (password === undefined) password = passwordFromEnv(target, {env})
  return {...target, database: undefined, password}
}
