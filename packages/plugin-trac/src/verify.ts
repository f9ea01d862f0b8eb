/**
 * `bk trac verify`: a backup is good when its checksums match its manifest AND it restores: the files are
 * extracted to scratch, VERSION checked, the database checked (SQLite integrity_check) or loaded into a
 * scratch database (PostgreSQL/MySQL, dropped afterwards), and its database_version read back.
 */
import {mkdtemp, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {extractArchive} from '@bkcli/core/archive'
import {dbClient, sqliteIntegrityCheck, sqliteTableCounts} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {MANIFEST_NAME, readManifest, verifyManifest} from '@bkcli/core/manifest'
import {DUMP_FILES, sqliteDatabaseVersion} from './database.js'
import {parseTracDbUrl, pgSchema, type TracDbUrl} from './db-url.js'
import {checkEnvironmentDir, DEFAULT_DATABASE} from './environment.js'
import {loadTracDump} from './restore-db.js'
import {TracConfig} from './trac-config.js'

export interface VerifyOptions {
  /** Server to load a pg/mysql dump into (a scratch database is created there); default the backup's own. */
  scratchServer?: TracDbUrl
}

export interface VerifyResult {
  artifact: string
  backup: string
  ok: boolean
  checked: number
  missing: string[]
  changed: string[]
  engine?: string
  databaseVersion?: number
  manifestDatabaseVersion?: number
  integrity?: string[]
  tables?: Record<string, number>
  problems: string[]
}

export async function verifyBackup(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const artifact = resolve(path)
  const info = await stat(artifact).catch(() => {
    throw new BkError(`${path} does not exist; give a backup archive or hotcopy directory (see bk trac list)`)
  })
  if (info.isDirectory() && !(await pathExists(join(artifact, MANIFEST_NAME)))) {
    throw new BkError(
      `${path} has no ${MANIFEST_NAME}: not made by bk (a trac-admin hotcopy can be restored, not verified)`,
    )
  }
  const manifest = await readManifest(artifact)
  const sums = await verifyManifest(artifact)
  const result: VerifyResult = {
    artifact,
    backup: artifact,
    ok: false,
    checked: sums.checked,
    missing: sums.missing,
    changed: sums.changed,
    manifestDatabaseVersion: (manifest.extra as {databaseVersion?: number} | undefined)?.databaseVersion,
    problems: [],
  }
  if (!sums.ok) {
    result.problems.push(`checksums: ${sums.missing.length} missing, ${sums.changed.length} changed`)
    return result
  }
  const scratch = await mkdtemp(join(tmpdir(), 'bk-trac-verify-'))
  try {
    let dir = artifact
    if (!info.isDirectory()) {
      dir = join(scratch, 'env')
      await extractArchive({file: artifact, target: dir})
    }
    await checkEnvironmentDir(dir).catch((error) => result.problems.push((error as Error).message))
    const config = await TracConfig.load(join(dir, 'conf', 'trac.ini'))
    const db = parseTracDbUrl(config.get('trac', 'database')?.trim() || DEFAULT_DATABASE)
    result.engine = db.engine
    const component = manifest.components.find((c) => c.type === 'database') as {path?: string} | undefined
    if (!component?.path) {
      result.problems.push('the backup holds no database')
    } else if (db.engine === 'sqlite') {
      const file = join(dir, component.path)
      result.integrity = await sqliteIntegrityCheck(file)
      if (result.integrity.length > 0) result.problems.push(`integrity_check: ${result.integrity[0]}`)
      result.databaseVersion = await sqliteDatabaseVersion(file)
      result.tables = await sqliteTableCounts(file)
    } else {
      const server = options.scratchServer ?? db
      const name = `bk_verify_${process.pid}_${Date.now().toString(36)}`
      const target: TracDbUrl = {...server, database: name, params: {...server.params}}
      const loaded = await loadTracDump(
        target,
        join(dir, component.path ?? DUMP_FILES[db.engine]),
        join(scratch, 'env'),
      )
      try {
        result.tables = loaded.tables
        const client = dbClient(target)
        try {
          const table = db.engine === 'postgres' ? `"${pgSchema(target)}".system` : 'system'
          const rows = await client.query<{value: string}>(`SELECT value FROM ${table} WHERE name = 'database_version'`)
          result.databaseVersion = rows[0] ? Number(rows[0].value) : undefined
        } finally {
          await client.close()
        }
      } finally {
        await loaded.undo()
      }
    }
    if (result.databaseVersion === undefined) result.problems.push('no database_version in the system table')
    else if (
      result.manifestDatabaseVersion !== undefined &&
      result.databaseVersion !== result.manifestDatabaseVersion
    ) {
      result.problems.push(
        `database_version ${result.databaseVersion} differs from the manifest's ${result.manifestDatabaseVersion}`,
      )
    }
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
  result.ok = result.problems.length === 0
  return result
}
