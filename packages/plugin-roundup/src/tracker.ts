/**
 * A Roundup tracker home: where its config.ini says the database is, which backend, how to connect.
 * Paths in config.ini are relative to the home; `file://` secrets are read from the file they name.
 */
import {existsSync, readFileSync, statSync} from 'node:fs'
import {isAbsolute, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {IniFile} from '@bkcli/core/ini'
import type {Backend} from './rdate.js'
import {parseSchemaPy, type TrackerSchema} from './schema.js'

export interface RdbmsSettings {
  name: string
  host: string
  port?: number
  user: string
  /** resolved password; undefined when config.ini leaves it empty (the driver default then applies) */
  password?: string
  /** where the password came from: inline in config.ini, a file:// secret, or none */
  passwordSource: 'inline' | 'file' | 'none'
  passwordFile?: string
  template?: string
  mysqlCharset: string
  mysqlCollation: string
}

export interface Tracker {
  home: string
  configPath: string
  backend: Backend
  /** [main] database resolved to an absolute path */
  dbDir: string
  /** [main] database as written (absolute paths are carried along, and reported) */
  dbDirSetting: string
  rdbms: RdbmsSettings
  csvFieldSize: number
  config: IniFile
}

export function readSecret(value: string, home: string): {value: string; file?: string} {
  if (!value.startsWith('file://')) return {value}
  const path = value.slice('file://'.length)
  const file = isAbsolute(path) ? path : join(home, path)
  try {
    const first = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? ''
    return {value: first.trim(), file}
  } catch {
    throw new BkError(`cannot read the secret file ${file} named in config.ini; check that it exists and is readable`)
  }
}

const BACKENDS: Record<string, Backend> = {sqlite: 'sqlite', postgresql: 'postgresql', mysql: 'mysql'}

/** Open a tracker home: checks it is one, reads config.ini. */
export async function openTracker(homeArg: string): Promise<Tracker> {
  const home = resolve(homeArg)
  if (!existsSync(home) || !statSync(home).isDirectory()) {
    throw new BkError(`${homeArg} does not exist or is not a directory; give the path of a Roundup tracker home`)
  }
  const configPath = join(home, 'config.ini')
  if (!existsSync(configPath) || !existsSync(join(home, 'schema.py'))) {
    throw new BkError(`${homeArg} is not a Roundup tracker home (no config.ini and schema.py)`)
  }
  const config = await IniFile.read(configPath, {interpolation: 'basic', defaults: {HOME: home, TRACKER_HOME: home}})
  const backendName = (config.get('rdbms', 'backend') ?? '').trim()
  const backend = BACKENDS[backendName]
  if (!backend) {
    if (backendName === 'anydbm') {
      throw new BkError(`${homeArg} uses the anydbm backend, which bk does not read; export it with roundup-admin`)
    }
    throw new BkError(`${configPath}: unknown [rdbms] backend '${backendName}' (bk knows sqlite, postgresql and mysql)`)
  }
  const dbDirSetting = config.get('main', 'database') || 'db'
  const dbDir = isAbsolute(dbDirSetting) ? dbDirSetting : join(home, dbDirSetting)
  const pw = config.get('rdbms', 'password') ?? 'roundup'
  const secret = pw === '' ? {value: undefined, file: undefined} : readSecret(pw, home)
  const port = config.get('rdbms', 'port')
  const rdbms: RdbmsSettings = {
    name: config.get('rdbms', 'name') || 'roundup',
    host: config.get('rdbms', 'host') || 'localhost',
    port: port ? Number(port) : undefined,
    user: config.get('rdbms', 'user') || 'roundup',
    password: secret.value,
    passwordSource: pw === '' ? 'none' : secret.file ? 'file' : 'inline',
    passwordFile: secret.file,
    template: config.get('rdbms', 'template') || undefined,
    mysqlCharset: config.get('rdbms', 'mysql_charset') || 'utf8mb4',
    mysqlCollation: config.get('rdbms', 'mysql_collation') || 'utf8mb4_unicode_ci',
  }
  if (rdbms.port !== undefined && !Number.isInteger(rdbms.port)) {
    throw new BkError(`${configPath}: [rdbms] port '${port}' is not a number`)
  }
  const size = Number(config.get('main', 'csv_field_size') || 131072)
  return {home, configPath, backend, dbDir, dbDirSetting, rdbms, csvFieldSize: size, config}
}

/** The tracker's schema.py, read statically. */
export function readSchemaPy(tracker: Tracker): TrackerSchema {
  return parseSchemaPy(readFileSync(join(tracker.home, 'schema.py'), 'utf8'))
}

/** Where a FileClass item's content lives: db/files/<class>/<id//1000>/<class><id>, then its .tmp, then the flat
 * layout, in that order (the first one is where a missing content would be). */
export function blobPlaces(tracker: Tracker, cls: string, id: number): string[] {
  const sub = join(tracker.dbDir, 'files', cls, String(Math.floor(id / 1000)), `${cls}${id}`)
  return [sub, `${sub}.tmp`, join(tracker.dbDir, 'files', `${cls}${id}`)]
}

export function describeDatabase(t: Tracker): string {
  if (t.backend === 'sqlite') return join(t.dbDir, 'db')
  const port = t.rdbms.port ? `:${t.rdbms.port}` : ''
  return `${t.backend}://${t.rdbms.user}@${t.rdbms.host}${port}/${t.rdbms.name}`
}
