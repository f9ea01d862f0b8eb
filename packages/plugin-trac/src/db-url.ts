/**
 * Trac's `[trac] database` connection strings (trac/db/api.py `parse_connection_uri`) on top of core's URL
 * parser: `sqlite:` paths are relative to the env, PostgreSQL's `?schema=` and `?host=/socket/dir`, MySQL's
 * `?unix_socket=`; `postgresql://` and `mariadb://` accepted on bk's command line but written back the way
 * Trac spells them (Trac knows only `postgres` and `mysql`).
 */
import {isAbsolute, join, normalize} from 'node:path'
import {type DbTarget, formatDbUrl, parseDbUrl, resolvePassword} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'

export type TracEngine = DbTarget['engine']
export type TracDbUrl = DbTarget

export function parseTracDbUrl(uri: string): TracDbUrl {
  const target = parseDbUrl(uri.trim())
  if (target.engine !== 'sqlite' && !target.database) {
    throw new BkError(`the database URL ${formatDbUrl(target)} names no database; add /<name>`, {code: 'EDBURL'})
  }
  return target
}

/** The connection string as Trac writes it; the password only when asked (it goes into trac.ini, 0600). */
export function formatTracDbUrl(url: TracDbUrl, options: {withPassword?: boolean} = {}): string {
  return formatDbUrl({...url, scheme: url.engine}, options)
}

/** Absolute path of an SQLite database: Trac joins a relative path to the env directory. */
export function sqlitePathIn(envPath: string, url: TracDbUrl): string {
  const path = url.path ?? 'db/trac.db'
  return isAbsolute(path) ? normalize(path) : join(envPath, normalize(path))
}

/** PostgreSQL schema of a Trac database (`?schema=`, default public). */
export function pgSchema(url: TracDbUrl): string {
  return url.params.schema || 'public'
}

/** A URL from the command line with its password filled in (from --password-file, BK_DB_PASSWORD, PGPASSWORD/MYSQL_PWD). */
export async function resolveTracDbUrl(uri: string, passwordFile?: string): Promise<TracDbUrl> {
  const url = parseTracDbUrl(uri)
  const password = await resolvePassword(url, {passwordFile})
  return password === undefined ? url : {...url, password}
}
