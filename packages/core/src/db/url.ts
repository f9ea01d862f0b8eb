import {BkError} from '../errors.js'

/** The database engines bk reads and writes. */
export type DbEngine = 'sqlite' | 'postgres' | 'mysql'

/** A database to connect to, parsed from a URL such as Trac's `[trac] database`. */
export interface DbTarget {
  engine: DbEngine
  /** The scheme as written (`postgresql`, `mariadb`, …): only used to name the server in messages. */
  scheme?: string
  /** sqlite: the file, kept relative when written relative (the caller knows what it is relative to). */
  path?: string
  /** TCP host name or address. */
  host?: string
  /** Always set for server engines (5432 / 3306 when the URL has none). */
  port?: number
  /** postgres: the socket directory (`?host=/var/run/postgresql`); mysql: the socket file (`?unix_socket=`). */
  socket?: string
  user?: string
  password?: string
  database?: string
  /** Query parameters, decoded, except `password` (moved to `password`). */
  params: Record<string, string>
}

/** The port of each server engine when a URL gives none. */
export const DEFAULT_PORTS = {postgres: 5432, mysql: 3306} as const

const SCHEMES: Record<string, DbEngine> = {
  sqlite: 'sqlite',
  postgres: 'postgres',
  postgresql: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
}

/**
 * Parse a database URL: `sqlite:<path>[?params]`, `postgres[ql]://[user[:pass]@][host][:port][/db][?params]`,
 * `mysql|mariadb://…`. User, password, host, database and parameter values are percent-decoded. Trac's forms
 * are accepted: `postgres://user:pass@host:port/db?schema=x`, `postgres://user@/db?host=/var/run/postgresql`.
 */
export function parseDbUrl(url: string): DbTarget {
  const colon = url.indexOf(':')
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : ''
  const engine = SCHEMES[scheme]
  if (!engine) {
    throw new BkError(
      `unsupported database URL '${redactUrl(url)}': use sqlite:<path>, postgres://… or mysql://… (mariadb:// also works)`,
      {code: 'EDBURL'},
    )
  }
  const rest = url.slice(colon + 1)
  const [body, query] = splitOnce(rest, '?')
  const params = parseQuery(query, url)
  if (engine === 'sqlite') return parseSqlite(body, params, scheme, url)

  if (!body.startsWith('//')) {
    throw new BkError(`invalid database URL '${redactUrl(url)}': expected ${scheme}://[user@]host[:port]/database`, {
      code: 'EDBURL',
    })
  }
  const afterSlashes = body.slice(2)
  // The user info ends at the last '@' (so an unencoded '@' in a password still works); the host at the next '/'.
  const at = afterSlashes.lastIndexOf('@')
  const userInfo = at >= 0 ? afterSlashes.slice(0, at) : undefined
  const hostAndPath = at >= 0 ? afterSlashes.slice(at + 1) : afterSlashes
  const [hostPort, pathPart] = splitOnce(hostAndPath, '/')

  const target: DbTarget = {engine, scheme, params}
  if (userInfo !== undefined) {
    const [user, password] = splitOnce(userInfo, ':')
    if (user) target.user = decode(user)
    if (userInfo.includes(':')) target.password = decode(password)
  }
  const {host, port} = parseHostPort(hostPort, url)
  if (host) target.host = decode(host)
  if (port !== undefined) target.port = port
  const database = decode(pathPart)
  if (database) target.database = database

  if (params.password !== undefined) {
    target.password = params.password
    delete params.password
  }
  if (params.user !== undefined && target.user === undefined) target.user = params.user
  if (params.port !== undefined && target.port === undefined) target.port = parsePort(params.port, url)
  if (engine === 'postgres') {
    const hostParam = params.host
    if (hostParam !== undefined) {
      if (hostParam.startsWith('/')) target.socket = hostParam
      else if (hostParam) target.host = hostParam
    }
    if (target.host?.startsWith('/')) {
      // libpq also accepts a percent-encoded socket directory as the host.
      target.socket = target.host
      delete target.host
    }
    if (params.dbname !== undefined && target.database === undefined) target.database = params.dbname
  } else {
    const socket = params.unix_socket ?? params.socket
    if (socket) target.socket = socket
  }
  target.port ??= DEFAULT_PORTS[engine]
  return target
}

function parseSqlite(body: string, params: Record<string, string>, scheme: string, url: string): DbTarget {
  // `sqlite:///abs` and `sqlite://rel` have an empty authority; `sqlite:/abs` and `sqlite:rel` have none.
  const path = body.startsWith('//') ? body.slice(2) : body
  if (!path) throw new BkError(`invalid database URL '${url}': sqlite: needs a file path`, {code: 'EDBURL'})
  return {engine: 'sqlite', scheme, path, params}
}

function parseHostPort(hostPort: string, url: string): {host?: string; port?: number} {
  if (!hostPort) return {}
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']')
    if (close < 0) throw new BkError(`invalid database URL '${redactUrl(url)}': unclosed '[' in host`, {code: 'EDBURL'})
    const host = hostPort.slice(1, close)
    const after = hostPort.slice(close + 1)
    if (!after) return {host}
    if (!after.startsWith(':')) throw new BkError(`invalid database URL '${redactUrl(url)}'`, {code: 'EDBURL'})
    return {host, port: after.length > 1 ? parsePort(after.slice(1), url) : undefined}
  }
  const colon = hostPort.lastIndexOf(':')
  if (colon < 0) return {host: hostPort}
  const portText = hostPort.slice(colon + 1)
  return {host: hostPort.slice(0, colon) || undefined, port: portText ? parsePort(portText, url) : undefined}
}

function parsePort(text: string, url: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!(port >= 1 && port <= 65535)) {
    // 'u:pa?ss@h': the '?' ended the authority early, so the "port" is part of the password: never echo it
    const query = url.indexOf('?')
    if (query >= 0 && url.indexOf('@', query) >= 0 && !/^\d+$/.test(text)) {
      throw new BkError(`invalid database URL '${redactUrl(url)}': percent-encode a '?' in the password as %3F`, {
        code: 'EDBURL',
      })
    }
    throw new BkError(`invalid port '${text}' in database URL '${redactUrl(url)}' (expected 1-65535)`, {
      code: 'EDBURL',
    })
  }
  return port
}

function parseQuery(query: string, url: string): Record<string, string> {
  const params: Record<string, string> = {}
  if (!query) return params
  for (const pair of query.split('&')) {
    if (!pair) continue
    const [key, value] = splitOnce(pair, '=')
    const name = decode(key)
    if (!name) throw new BkError(`invalid database URL '${redactUrl(url)}': empty parameter name`, {code: 'EDBURL'})
    params[name] = decode(value)
  }
  return params
}

function splitOnce(text: string, sep: string): [string, string] {
  const i = text.indexOf(sep)
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)]
}

/** Percent-decoding like Python's unquote: '+' stays '+', a malformed escape is kept literally. */
function decode(text: string): string {
  if (!text.includes('%')) return text
  try {
    return decodeURIComponent(text)
  } catch {
    return text.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run)
      } catch {
        return run
      }
    })
  }
}

function encode(text: string): string {
  return encodeURIComponent(text)
}

/**
 * The URL of a target, without its password unless asked (for manifests, logs and messages).
 * The default port is left out.
 */
export function formatDbUrl(target: DbTarget, options: {withPassword?: boolean} = {}): string {
  const params = Object.entries(target.params).filter(([key]) => key !== 'password')
  const query = params.length > 0 ? `?${params.map(([k, v]) => `${encode(k)}=${encodeParam(v)}`).join('&')}` : ''
  if (target.engine === 'sqlite') return `${target.scheme ?? 'sqlite'}:${target.path ?? ''}${query}`
  let userInfo = ''
  if (target.user !== undefined) {
    userInfo = encode(target.user)
    if (options.withPassword && target.password !== undefined) userInfo += `:${encode(target.password)}`
    userInfo += '@'
  }
  let host = target.host ?? ''
  if (host.includes(':')) host = `[${host}]`
  else host = encode(host)
  const showPort = target.port !== undefined && target.port !== DEFAULT_PORTS[target.engine]
  const port = showPort ? `:${target.port}` : ''
  const database = target.database !== undefined ? `/${encode(target.database)}` : '/'
  const scheme = target.scheme ?? target.engine
  return `${scheme}://${userInfo}${host}${port}${database}${query}`
}

function encodeParam(value: string): string {
  // Socket paths read better unencoded; '/' is harmless in a query value.
  return encode(value).replace(/%2F/gi, '/')
}

/**
 * The URL with any password replaced by `***`. Works on text that does not parse (it is used in error messages).
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-zA-Z][\w+.-]*:\/\//.exec(url)?.[0]
  let out = url
  if (scheme) {
    // Like parseDbUrl: the user info ends at the LAST '@', so an unencoded '@', '/', '?' or '#' in a password
    // is hidden whole. (A ':' and '@' later in the text may hide more than the password: harmless.)
    const rest = url.slice(scheme.length)
    const at = rest.lastIndexOf('@')
    const colon = rest.indexOf(':')
    if (colon >= 0 && colon < at) out = `${scheme}${rest.slice(0, colon)}:***${rest.slice(at)}`
  }
  return out.replace(/([?&]password=)[^&#\s'"]*/gi, '$1***')
}

/** True when the URL carries a password (in the user info or a `password=` parameter). */
export function urlHasPassword(url: string): boolean {
  return redactUrl(url) !== url
}

/**
 * Warn when a database URL given on the command line carries a password: argv is visible to every user of the
 * machine (ps, /proc/<pid>/cmdline). Returns whether it warned.
 */
export function warnIfPasswordInArgv(
  url: string,
  warn: (message: string) => void = (message) => process.stderr.write(`bk: warning: ${message}\n`),
): boolean {
  if (!urlHasPassword(url)) return false
  warn(
    `the database URL ${redactUrl(url)} on the command line contains a password, which every user of this machine can see; ` +
      'give it through BK_DB_PASSWORD, --password-file or the config file instead',
  )
  return true
}

/** How to name the server in messages: "PostgreSQL at 127.0.0.1:5432", "MariaDB at /run/mysqld/mysqld.sock". */
export function describeServer(target: DbTarget): string {
  return `${serverName(target)} at ${serverAddress(target)}`
}

/** The server a target lives on, as messages name it (`host:port` or the socket). */
export function serverName(target: DbTarget): string {
  if (target.engine === 'postgres') return 'PostgreSQL'
  if (target.engine === 'sqlite') return 'SQLite'
  if (target.scheme === 'mariadb') return 'MariaDB'
  return 'MySQL/MariaDB'
}

export function serverAddress(target: DbTarget): string {
  if (target.engine === 'sqlite') return target.path ?? '?'
  const port = target.port ?? DEFAULT_PORTS[target.engine]
  if (target.socket) {
    return target.engine === 'postgres' ? `${target.socket}/.s.PGSQL.${port}` : target.socket
  }
  const host = target.host ?? 'localhost'
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
