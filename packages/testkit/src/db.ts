import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {type DbClient, type DbTarget, dbClient, formatDbUrl, parseDbUrl} from '@bkcli/core'

/**
 * Real PostgreSQL and MariaDB servers for tests. Every database and user made here is named `bkt_<pid>_<random>`,
 * dropped by `drop()`, by `dropTestLeftovers()`, at process exit, and — should the process have died — by the
 * next test process (the pid in the name is no longer alive).
 */
export type ServerEngine = 'postgres' | 'mysql'

const DEFAULT_ADMIN_URLS: Record<ServerEngine, string> = {
  postgres: 'postgres://root@127.0.0.1:5432/postgres',
  mysql: 'mysql://root@127.0.0.1:3306/',
}

/** The superuser URL of the local test server (BK_TEST_PG_URL / BK_TEST_MYSQL_URL override). */
export function adminUrl(engine: ServerEngine): string {
  const override = engine === 'postgres' ? process.env.BK_TEST_PG_URL : process.env.BK_TEST_MYSQL_URL
  return override ?? DEFAULT_ADMIN_URLS[engine]
}

export function adminTarget(engine: ServerEngine, database?: string): DbTarget {
  const target = parseDbUrl(adminUrl(engine))
  return database === undefined ? target : {...target, database}
}

/** A client connected as the server's superuser (close it when done). */
export function adminClient(engine: ServerEngine): DbClient {
  return dbClient(adminTarget(engine))
}

const SERVER_NAMES: Record<ServerEngine, string> = {postgres: 'PostgreSQL', mysql: 'MariaDB/MySQL'}

/**
 * Make sure the server answers; throws a loud error otherwise (a test that needs a server never skips silently).
 * Returns its version ("PostgreSQL 15.20").
 */
export async function requireServer(engine: ServerEngine): Promise<string> {
  const client = adminClient(engine)
  try {
    return await client.serverVersion()
  } catch (error) {
    throw new Error(
      `TEST SERVER MISSING: ${SERVER_NAMES[engine]} does not answer at ${adminUrl(engine)} (${(error as Error).message}). ` +
        'Start it (see DEVELOPERS.md / .ci/run); tests that need it fail instead of skipping.',
    )
  } finally {
    await client.close()
  }
}

/** A name for a test database or user: `bkt_<pid>_<8 hex>` (fits MySQL's and PostgreSQL's limits). */
export function uniqueDbName(prefix = 'bkt'): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

export interface TestDatabase {
  engine: ServerEngine
  name: string
  /** URL of the database as the superuser, without password. */
  url: string
  target: DbTarget
  drop(): Promise<void>
}

export interface TestUser {
  engine: ServerEngine
  name: string
  password: string
  /** mysql account host ('%'). */
  host?: string
  drop(): Promise<void>
}

const createdDatabases = new Map<string, ServerEngine>()
const createdUsers = new Map<string, ServerEngine>()
const swept = new Set<ServerEngine>()
let exitHooked = false

/** Create an empty database with a unique name. mysql: utf8mb4 / utf8mb4_bin unless told otherwise. */
export async function createTestDatabase(
  engine: ServerEngine,
  options: {encoding?: string; collation?: string} = {},
): Promise<TestDatabase> {
  await sweepDeadLeftovers(engine)
  hookExit()
  const name = uniqueDbName()
  const client = adminClient(engine)
  try {
    const defaults = engine === 'mysql' ? {encoding: 'utf8mb4', collation: 'utf8mb4_bin'} : {}
    createdDatabases.set(name, engine)
    await client.createDatabase(name, {...defaults, ...options})
  } finally {
    await client.close()
  }
  const target = adminTarget(engine, name)
  return {engine, name, url: formatDbUrl(target), target, drop: () => dropTestDatabase(engine, name)}
}

/** Run `fn` with a fresh database, dropped afterwards whatever happens. */
export async function withTestDatabase<T>(engine: ServerEngine, fn: (db: TestDatabase) => Promise<T>): Promise<T> {
  const db = await createTestDatabase(engine)
  try {
    return await fn(db)
  } finally {
    await db.drop()
  }
}

export async function dropTestDatabase(engine: ServerEngine, name: string): Promise<void> {
  const client = adminClient(engine)
  try {
    await client.dropDatabase(name, {force: true})
    createdDatabases.delete(name)
  } finally {
    await client.close()
  }
}

/**
 * Create a login user with a password (random unless given); `grantOn` gives it all privileges on a database.
 * mysql: the account is `name@'%'`.
 */
export async function createTestUser(
  engine: ServerEngine,
  options: {password?: string; grantOn?: string} = {},
): Promise<TestUser> {
  await sweepDeadLeftovers(engine)
  hookExit()
  const name = uniqueDbName()
  const password = options.password ?? randomBytes(9).toString('base64url')
  const client = adminClient(engine)
  try {
    createdUsers.set(name, engine)
    await client.createUser(name, password)
    if (options.grantOn) await client.grantAll(options.grantOn, name)
  } finally {
    await client.close()
  }
  return {
    engine,
    name,
    password,
    host: engine === 'mysql' ? '%' : undefined,
    drop: () => dropTestUser(engine, name),
  }
}

export async function dropTestUser(engine: ServerEngine, name: string): Promise<void> {
  const client = adminClient(engine)
  try {
    await client.dropUser(name, {cascade: true})
    createdUsers.delete(name)
  } finally {
    await client.close()
  }
}

/** Drop every database and user this process created and has not dropped yet (for afterAll). */
export async function dropTestLeftovers(): Promise<void> {
  for (const [name, engine] of [...createdDatabases]) await dropTestDatabase(engine, name).catch(() => {})
  for (const [name, engine] of [...createdUsers]) await dropTestUser(engine, name).catch(() => {})
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Drop `bkt_<pid>_…` databases and users whose process is gone (a crashed or killed test run). */
async function sweepDeadLeftovers(engine: ServerEngine): Promise<void> {
  if (swept.has(engine)) return
  swept.add(engine)
  const client = adminClient(engine)
  try {
    const dead = (name: string) => {
      const pid = Number(/^bkt_(\d+)_[0-9a-f]+(_.*)?$/s.exec(name)?.[1])
      return pid > 0 && pid !== process.pid && !pidAlive(pid)
    }
    const dbSql =
      engine === 'postgres'
        ? "SELECT datname AS name FROM pg_database WHERE datname LIKE 'bkt\\_%'"
        : "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'bkt\\_%'"
    const userSql =
      engine === 'postgres'
        ? "SELECT rolname AS name FROM pg_roles WHERE rolname LIKE 'bkt\\_%'"
        : "SELECT User AS name FROM mysql.user WHERE User LIKE 'bkt\\_%'"
    for (const {name} of await client.query<{name: string}>(dbSql)) {
      if (dead(String(name))) await client.dropDatabase(String(name), {force: true}).catch(() => {})
    }
    for (const {name} of await client.query<{name: string}>(userSql)) {
      if (dead(String(name))) await dropTestUser(engine, String(name)).catch(() => {})
    }
  } catch {
    // requireServer reports a missing server; the sweep is only housekeeping
  } finally {
    await client.close()
  }
}

/** At exit (no async work possible): drop what is left with the command-line clients, synchronously. */
function hookExit(): void {
  if (exitHooked) return
  exitHooked = true
  process.on('exit', () => {
    for (const [name, engine] of createdDatabases) {
      runSql(
        engine,
        engine === 'postgres'
          ? `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`
          : `DROP DATABASE IF EXISTS \`${name}\``,
      )
    }
    for (const [name, engine] of createdUsers) {
      runSql(engine, engine === 'postgres' ? `DROP ROLE IF EXISTS "${name}"` : `DROP USER IF EXISTS '${name}'@'%'`)
    }
  })
}

function runSql(engine: ServerEngine, sql: string): void {
  const t = adminTarget(engine)
  try {
    if (engine === 'postgres') {
      const args = ['-X', '-q', '-w', '-p', String(t.port), '-d', 'postgres', '-c', sql]
      if (t.socket ?? t.host) args.push('-h', String(t.socket ?? t.host))
      if (t.user) args.push('-U', t.user)
      execFileSync('psql', args, {stdio: 'ignore', timeout: 15_000})
    } else {
      const args = ['--no-defaults', '-e', sql]
      if (t.socket) args.push(`--socket=${t.socket}`)
      else args.push('--protocol=TCP', `--host=${t.host ?? '127.0.0.1'}`, `--port=${t.port}`)
      if (t.user) args.push(`--user=${t.user}`)
      execFileSync('mysql', args, {stdio: 'ignore', timeout: 15_000})
    }
  } catch {
    // best effort: the next run's sweep drops what is left
  }
}
