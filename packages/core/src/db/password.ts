import {readFile} from 'node:fs/promises'
import {BkError, messageOf} from '../errors.js'
import type {DbTarget} from './url.js'

/** Where a password comes from when a URL has none: a file, an environment variable. */
export interface PasswordOptions {
  /** A file holding the password (`--password-file`); one trailing newline is ignored. Wins over everything. */
  passwordFile?: string
  /** An extra environment variable to read before the standard ones (e.g. an application's own). */
  envVar?: string
  /** The environment to read (default process.env). */
  env?: NodeJS.ProcessEnv
}

/**
 * The password for a target, from (first found): `passwordFile`, the URL / application config (`target.password`),
 * `envVar`, `BK_DB_PASSWORD`, then the client's own variable (`PGPASSWORD` / `MYSQL_PWD`). Undefined when none.
 */
export async function resolvePassword(target: DbTarget, options: PasswordOptions = {}): Promise<string | undefined> {
  if (options.passwordFile !== undefined) return readPasswordFile(options.passwordFile)
  if (target.password !== undefined) return target.password
  return passwordFromEnv(target, options)
}

/** The target with its password filled in by resolvePassword (the input is not changed). */
export async function withResolvedPassword(target: DbTarget, options: PasswordOptions = {}): Promise<DbTarget> {
  const password = await resolvePassword(target, options)
  return password === undefined ? target : {...target, password}
}

/** The password from the environment only: `envVar`, `BK_DB_PASSWORD`, `PGPASSWORD` / `MYSQL_PWD`. */
export function passwordFromEnv(
  target: DbTarget,
  options: {envVar?: string; env?: NodeJS.ProcessEnv} = {},
): string | undefined {
  const env = options.env ?? process.env
  const names = [options.envVar, 'BK_DB_PASSWORD', clientPasswordVar(target)]
  for (const name of names) {
    if (name && env[name] !== undefined) return env[name]
  }
  return undefined
}

/** The password the driver and client tools use: the target's own, else the environment's. */
export function effectivePassword(target: DbTarget): string | undefined {
  return target.password ?? passwordFromEnv(target)
}

function clientPasswordVar(target: DbTarget): string | undefined {
  if (target.engine === 'postgres') return 'PGPASSWORD'
  if (target.engine === 'mysql') return 'MYSQL_PWD'
  return undefined
}

async function readPasswordFile(file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new BkError(`cannot read the password file ${file}: ${messageOf(error)}`, {code: 'EDBPASSWORD', cause: error})
  }
  return text.replace(/\r?\n$/, '')
}
