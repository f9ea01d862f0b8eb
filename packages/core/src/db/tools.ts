import {rmSync} from 'node:fs'
import {mkdtemp, open, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {BkError} from '../errors.js'
import {isExecutableFile} from '../process/program.js'
import {onInterrupt} from '../safety/interrupt.js'
import {defaultUser} from './connect.js'
import {effectivePassword} from './password.js'
import {type DbTarget, DEFAULT_PORTS} from './url.js'

/** The database client programs bk runs. */
export type ClientTool = 'pg_dump' | 'psql' | 'mysqldump' | 'mysql'

const TOOLS: Record<ClientTool, {names: string[]; install: string; setting: string}> = {
  pg_dump: {names: ['pg_dump'], install: 'postgresql-client', setting: 'pg_dump_path'},
  psql: {names: ['psql'], install: 'postgresql-client', setting: 'psql_path'},
  mysqldump: {
    names: ['mysqldump', 'mariadb-dump'],
    install: 'mariadb-client (or mysql-client)',
    setting: 'mysqldump_path',
  },
  mysql: {names: ['mysql', 'mariadb'], install: 'mariadb-client (or mysql-client)', setting: 'mysql_path'},
}

/** The executable for a client tool: `clientPath` when given (a path, or a name looked up on PATH), else PATH. */
export async function findClientTool(tool: ClientTool, clientPath?: string): Promise<string> {
  const spec = TOOLS[tool]
  const candidates = clientPath ? [clientPath] : spec.names
  for (const name of candidates) {
    const found = await which(name)
    if (found) return found
  }
  const given = clientPath ? ` (looked for ${clientPath})` : ''
  throw new BkError(`${tool} not found${given}; install ${spec.install} or set the program's path (${spec.setting})`, {
    code: 'ENOTOOL',
  })
}

async function which(name: string): Promise<string | undefined> {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)
  for (const dir of dirs) {
    const file = dir ? join(dir, name) : name
    // an executable regular file, as execvp takes it: a folder of that name is passed over
    if (await isExecutableFile(file)) return file
  }
  return undefined
}

/** A database name as a libpq conninfo string, so a name with '=' or a leading '-' is never read as something else. */
export function pgDbnameArg(database: string): string {
  return `--dbname=dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** Connection arguments for pg_dump / psql: never the password (it goes in PGPASSWORD, in the child's env). */
export function pgConnectionArgs(target: DbTarget): string[] {
  const args: string[] = []
  const host = target.socket ?? target.host
  if (host) args.push('-h', host)
  // Always the port, also with a socket directory (Trac dropped it there and pg_dump tried .s.PGSQL.5432).
  args.push('-p', String(target.port ?? DEFAULT_PORTS.postgres))
  if (target.user) args.push('-U', target.user)
  args.push('-w') // never prompt for a password: fail instead
  return args
}

export function pgChildEnv(target: DbTarget): Record<string, string | undefined> {
  const password = effectivePassword(target)
  return {PGPASSWORD: password, PGAPPNAME: 'bk', PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '15'}
}

/**
 * How a mysql client gets its options file (with the password). 'fd' (default): the file is written 0600 in a
 * fresh 0700 directory, opened, and unlinked before the client starts; the client reads it as /dev/fd/3 (Node's
 * stdio pipes are socketpairs, which /dev/fd/N cannot reopen, so a pipe is not an option). 'file': the client
 * reads it by path; it is removed when the client has finished.
 */
export type SecretChannel = 'fd' | 'file'

export interface MysqlSecret {
  /** The first argument of the client (`--defaults-file=…`). */
  arg: string
  /** execa `stdio[3]`: an open descriptor of the (already unlinked) options file. */
  fd3?: number
  /** Close the descriptor / remove the temp file. */
  cleanup: () => Promise<void>
  /** The temp file path while it exists (tests check it is gone). */
  file?: string
}

/**
 * The options file for mysql / mysqldump. It is read with `--defaults-file` (only this file: a password in
 * ~/.my.cnf must not override ours — Trac's #12880), so it carries the whole [client] section.
 */
export function mysqlOptionsText(target: DbTarget): string {
  const lines = ['[client]', `user=${optionValue(defaultUser(target))}`]
  const password = effectivePassword(target)
  if (password !== undefined) lines.push(`password=${optionValue(password)}`)
  return `${lines.join('\n')}\n`
}

function optionValue(value: string): string {
  const escaped = value.replace(/[\\"\n\r\t\b]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : c === '\b' ? '\\b' : `\\${c}`,
  )
  return `"${escaped}"`
}

export async function mysqlSecret(target: DbTarget, channel: SecretChannel = 'fd'): Promise<MysqlSecret> {
  const dir = await mkdtemp(join(tmpdir(), 'bk-my-')) // 0700
  const file = join(dir, 'client.cnf')
  const removeDir = () => rm(dir, {recursive: true, force: true})
  try {
    await writeFile(file, mysqlOptionsText(target), {mode: 0o600, flag: 'wx'})
    if (channel === 'file') {
      // a SIGINT/SIGTERM while the client runs must not leave the password behind in the temp dir
      const unregister = onInterrupt(() => rmSync(dir, {recursive: true, force: true}), {sweep: true})
      const cleanup = async () => {
        unregister()
        await removeDir()
      }
      return {arg: `--defaults-file=${file}`, file, cleanup}
    }
    const handle = await open(file, 'r')
    await removeDir()
    return {arg: '--defaults-file=/dev/fd/3', fd3: handle.fd, cleanup: () => handle.close().catch(() => {})}
  } catch (error) {
    await removeDir()
    throw error
  }
}

/** Connection arguments for mysql / mysqldump, after the `--defaults-file` one. No password here. */
export function mysqlConnectionArgs(target: DbTarget): string[] {
  const args: string[] = []
  if (target.socket) args.push('--protocol=SOCKET', `--socket=${target.socket}`)
  else if (target.host && target.host !== 'localhost') {
    args.push('--protocol=TCP', `--host=${target.host}`, `--port=${target.port ?? DEFAULT_PORTS.mysql}`)
  }
  return args
}

/** The client's env: without MYSQL_PWD (the options file carries the password, the environment need not). */
export function mysqlChildEnv(): Record<string, string | undefined> {
  return {MYSQL_PWD: undefined}
}
