/**
 * `bk roundup restore <backup> <tracker-home>`: checks the archive against its manifest, stages the home beside
 * the target, puts the database back (sqlite snapshot; psql/mysql into a fresh, empty database), refuses a
 * database whose stored schema does not match the restored schema.py (Roundup would alter or drop tables on
 * open), then swaps the home in (the previous one kept as `<home>.old`).
 */
import {existsSync, readFileSync} from 'node:fs'
import {copyFile, mkdir, mkdtemp, rename, rm} from 'node:fs/promises'
import {basename, dirname, isAbsolute, join, resolve} from 'node:path'
import {
  BkError,
  copyTree,
  extractArchive,
  IniFile,
  loadDump,
  onInterrupt,
  parseDbUrl,
  readManifest,
  safeRestore,
  verifyManifest,
} from '@bkcli/core'
import {dbTarget} from './backup.js'
import {readStoredSchemaText} from './dbschema.js'
import {parseSchemaPy, parseStoredSchema, schemaDifferences} from './schema.js'
import {connect, openSqlite} from './store.js'
import {dropDatabaseOf, prepareEmptyDatabase} from './target.js'
import {describeDatabase, openTracker, type Tracker} from './tracker.js'

export interface RestoreOptions {
  /** point the restored home at another database: postgresql://user@host:port/name, mysql://…, sqlite: */
  backendUrl?: string
}

export interface RestoreResult {
  backup: string
  home: string
  backend: string
  database: string
  previous?: string
  notes: string[]
}

/** Rewrite config.ini's [rdbms] for a database URL (no password on the command line: it is kept from config.ini). */
export async function pointConfigAt(home: string, url: string, passwordFile?: string): Promise<void> {
  const ini0 = /^sqlite:?$/.test(url)
  const t = ini0 ? ({engine: 'sqlite', params: {}} as ReturnType<typeof parseDbUrl>) : parseDbUrl(url)
  if (t.password)
    throw new BkError('put no password in --backend-url (argv is visible to every user); keep it in config.ini')
  const ini = await IniFile.read(join(home, 'config.ini'), {
    interpolation: 'basic',
    defaults: {HOME: home, TRACKER_HOME: home},
  })
  const backend = t.engine === 'postgres' ? 'postgresql' : t.engine
  ini.set('rdbms', 'backend', backend)
  if (t.engine !== 'sqlite') {
    if (!t.database) throw new BkError(`--backend-url ${url} names no database`)
    ini.set('rdbms', 'name', t.database)
    if (t.host) ini.set('rdbms', 'host', t.host)
    ini.set('rdbms', 'port', t.port ? String(t.port) : '')
    if (t.user) ini.set('rdbms', 'user', t.user)
  }
  // Roundup's own secret mechanism: the password stays in a file, config.ini names it
  if (passwordFile) ini.set('rdbms', 'password', `file://${resolve(passwordFile)}`)
  await ini.write()
}

function checkSchema(home: string, schemaText: string, where: string): void {
  let py: ReturnType<typeof parseSchemaPy>
  try {
    py = parseSchemaPy(readFileSync(join(home, 'schema.py'), 'utf8'))
  } catch (error) {
    throw new BkError(`cannot check the restored schema.py against the database: ${(error as Error).message}`)
  }
  const diff = schemaDifferences(py, parseStoredSchema(schemaText), 'schema.py', where)
  if (diff.length > 0) {
    throw new BkError(
      `refusing to restore: schema.py does not match ${where} (${diff[0]}${diff.length > 1 ? `, and ${diff.length - 1} more` : ''}); Roundup would alter or drop tables on open`,
    )
  }
}

export async function restoreTracker(
  backupArg: string,
  homeArg: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const backup = resolve(backupArg)
  const home = resolve(homeArg)
  const manifest = await readManifest(backup)
  if (manifest.application !== 'roundup') {
    throw new BkError(`${backupArg} is a ${manifest.application} backup, not a Roundup one`)
  }
  const check = await verifyManifest(backup)
  if (!check.ok) {
    const bad = [...check.changed, ...check.missing]
    throw new BkError(
      `${backupArg} is damaged: ${bad.length} file(s) differ from its manifest (first: ${bad[0]}); nothing was restored`,
    )
  }
  const extra = (manifest.extra ?? {}) as {backend?: string; schema?: string; databaseDir?: string}
  const notes: string[] = []
  const scratch = await mkdtemp(join(dirname(home), `.${basename(home)}.bk-extract-`))
  const unregister = onInterrupt(() => {
    void rm(scratch, {recursive: true, force: true})
  })
  let createdDb: Tracker | undefined
  let tracker: Tracker | undefined
  try {
    await mkdir(dirname(home), {recursive: true})
    await extractArchive({file: backup, target: scratch})
    if (!existsSync(join(scratch, 'home', 'config.ini')))
      throw new BkError(`${backupArg} holds no tracker home (home/config.ini)`)
    const result = await safeRestore({
      target: home,
      keepPrevious: true,
      stage: async (stage) => {
        await rm(stage, {recursive: true, force: true})
        await rename(join(scratch, 'home'), stage)
        if (options.backendUrl) await pointConfigAt(stage, options.backendUrl)
        // the schema of the database in the backup must match the schema.py that comes with it
        if (extra.schema) checkSchema(stage, extra.schema, 'the schema stored in the backup')
        const staged = await openTracker(stage)
        if (staged.backend !== extra.backend) {
          throw new BkError(
            `the backup holds a ${extra.backend} database but the home is set to ${staged.backend}; use bk roundup migrate-backend after restoring`,
          )
        }
        const dbdirOutside = isAbsolute(staged.dbDirSetting)
        if (dbdirOutside) notes.push(`[main] database is the absolute path ${staged.dbDirSetting}: restored there`)
        if (staged.rdbms.passwordFile)
          notes.push(`[rdbms] password is read from ${staged.rdbms.passwordFile}: make sure it exists`)
        if (dbdirOutside && existsSync(join(staged.dbDir, 'db'))) {
          throw new BkError(
            `${staged.dbDir}/db exists; move it away before restoring a tracker whose database lives there`,
          )
        }
        if (existsSync(join(scratch, 'dbdir'))) {
          await mkdir(staged.dbDir, {recursive: true})
          await copyTree(join(scratch, 'dbdir'), join(staged.dbDir, 'files'), {})
        }
        if (staged.backend === 'sqlite') {
          await mkdir(staged.dbDir, {recursive: true})
          for (const f of ['db', 'db-session', 'db-otk']) {
            const src = join(scratch, 'database', f)
            if (existsSync(src)) await copyFile(src, join(staged.dbDir, f))
          }
          const conn = openSqlite(join(staged.dbDir, 'db'))
          try {
            await conn.run('pragma journal_mode=wal')
            checkSchema(stage, await readStoredSchemaText(conn), 'the restored database')
          } finally {
            await conn.close()
          }
        } else {
          await prepareEmptyDatabase(staged)
          createdDb = staged
          await loadDump(dbTarget(staged), join(scratch, 'database', 'dump.sql'))
          const conn = await connect(staged)
          try {
            checkSchema(stage, await readStoredSchemaText(conn), 'the restored database')
          } finally {
            await conn.close()
          }
        }
        tracker = staged
      },
    })
    createdDb = undefined
    const t = tracker as unknown as Tracker
    return {
      backup,
      home,
      backend: t.backend,
      database: t.backend === 'sqlite' ? join(home, t.dbDirSetting, 'db') : describeDatabase(t),
      previous: result.previous,
      notes,
    }
  } catch (error) {
    if (createdDb) await dropDatabaseOf(createdDb).catch(() => {})
    throw error
  } finally {
    await rm(scratch, {recursive: true, force: true})
    unregister()
  }
}
