import {BkError} from '../errors.js'
import {type DbTarget, describeServer, serverAddress, serverName} from './url.js'

/** What went wrong, recognised from a driver error or a client tool's stderr. */
export type DbFailureKind = 'unreachable' | 'password' | 'no-password' | 'access' | 'no-database' | 'other'

/** Classify a driver error (code / errno) or a client tool's message. */
export function classifyDbFailure(input: {code?: string; errno?: number; message: string}): DbFailureKind {
  const {code, errno, message} = input
  if (
    code === 'ECONNREFUSED' ||
    code === 'ENOENT' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'ETIMEDOUT' ||
    code === 'EAI_AGAIN' ||
    errno === 2002 ||
    errno === 2003 ||
    errno === 2005 ||
    /connection refused|could not connect|can't connect|no such file or directory.*\.s\.PGSQL|\.s\.PGSQL\.\d+" failed: No such file|Is the server running|Unknown (MySQL|MariaDB) server host|could not translate host name|timeout expired/i.test(
      message,
    )
  ) {
    return 'unreachable'
  }
  if (code === '28P01' || /password authentication failed/i.test(message)) return 'password'
  // 'client password must be a string': the pg driver, asked for a SCRAM password it was not given
  if (/no password supplied|password is required|fe_sendauth|client password must be a string/i.test(message))
    return 'no-password'
  if (errno === 1045 || code === 'ER_ACCESS_DENIED_ERROR' || /Access denied for user .*using password/i.test(message)) {
    return /using password: NO/i.test(message) ? 'no-password' : 'password'
  }
  if (code === '3D000' || errno === 1049 || /database ".*" does not exist|Unknown database/i.test(message)) {
    return 'no-database'
  }
  if (code === '28000' || code === '42501' || errno === 1044 || /permission denied|access denied/i.test(message)) {
    return 'access'
  }
  return 'other'
}

/** A one-line BkError for a failure to talk to a database server. `what`: what bk was doing ("dump", "connect"…). */
export function dbFailure(
  target: DbTarget,
  error: {code?: string; errno?: number; message: string},
  options: {cause?: unknown; database?: string} = {},
): BkError {
  const kind = classifyDbFailure(error)
  const server = describeServer(target)
  const detail = oneLine(error.message)
  const user = userLabel(target)
  const database = options.database ?? target.database
  const cause = options.cause
  switch (kind) {
    case 'unreachable':
      return new BkError(`cannot connect to ${server} (${reason(detail)}); is the server running?`, {
        code: 'EDBCONNECT',
        cause,
      })
    case 'password':
      return new BkError(
        `${serverName(target)} refused the password for user ${user} — check the password (database URL, BK_DB_PASSWORD, ${pwVar(target)} or --password-file)`,
        {code: 'EDBAUTH', cause},
      )
    case 'no-password':
      return new BkError(
        `${serverName(target)} at ${serverAddress(target)} wants a password for user ${user} and none was given — set BK_DB_PASSWORD, ${pwVar(target)} or --password-file`,
        {code: 'EDBAUTH', cause},
      )
    case 'no-database':
      return new BkError(
        `database '${database ?? '?'}' does not exist on ${server} — check the name, or create it first`,
        {code: 'EDBMISSING', cause},
      )
    case 'access':
      return new BkError(`${serverName(target)} denied access for user ${user}: ${detail}`, {code: 'EDBACCESS', cause})
    default:
      return new BkError(`${server}: ${detail}`, {code: 'EDB', cause})
  }
}

function userLabel(target: DbTarget): string {
  const user = target.user ?? '(default)'
  if (target.engine === 'mysql') return `'${user}'@${target.socket ? 'localhost' : (target.host ?? 'localhost')}`
  return `"${user}"`
}

function pwVar(target: DbTarget): string {
  return target.engine === 'postgres' ? 'PGPASSWORD' : 'MYSQL_PWD'
}

function reason(detail: string): string {
  if (/refused|can't connect to server on .*\((111|115)\)/i.test(detail)) return 'connection refused'
  if (/no such file/i.test(detail)) return 'no socket there'
  if (/timeout|timed out/i.test(detail)) return 'timed out'
  if (/ENOTFOUND|translate host name|Unknown .* host/i.test(detail)) return 'unknown host'
  return detail
}

/** The message on one line (client tools print several, indented). */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(' ')
    .replace(/\s+/g, ' ')
    .slice(0, 500)
}
