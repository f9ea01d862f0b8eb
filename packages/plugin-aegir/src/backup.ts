import {linkSync, rmSync, unlinkSync} from 'node:fs'
import {chmod, mkdir, open, rm, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {createArchive} from '@bkcli/core/archive'
import {dbClient, dumpDatabase} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {fsyncDir, pathExists, walk} from '@bkcli/core/fs'
import {crashPoint, onInterrupt} from '@bkcli/core/safety'
import {lockTargets} from '@bkcli/core/workflow'
import {SiteJournal} from './journal.js'
import {writeBackupSidecar} from './manifest.js'
import {REASON_ON_REQUEST, siteCatalog} from './naming.js'
import {recoverSite} from './recover.js'
import type {AegirSite} from './site.js'
import {siteTarget} from './target.js'

/** provision refuses a dump under 1024 bytes (an empty or failed dump), unless forced. */
export const MIN_DUMP_BYTES = 1024

export interface BackupOptions {
  /** The backup location (Aegir: /var/aegir/backups). Created 0700 when missing. */
  location: string
  description?: string
  /** Manifest kind: 'full', 'pre-restore', 'pre-clone', 'pre-migrate'. */
  kind?: string
  /** Accept a dump smaller than 1024 bytes (provision's --force). */
  force?: boolean
  /** Remove DEFINER clauses from the dump (default true) so it loads under a new database user. */
  stripDefiner?: boolean
  /** The caller already holds the site's lock and recovered it (a command, or restore/clone/migrate). */
  locked?: boolean
  /** The journal of the run the backup is part of (restore, clone, migrate); default: the backup's own. */
  journal?: SiteJournal
  now?: Date
  onProgress?: (bytes: number) => void
  /** Called with the dump client's pid (tests read its argv). */
  onSpawn?: (pid: number) => void
}

export interface BackupResult {
  file: string
  uri: string
  site: string
  description: string
  /** What the artifact is (full, pre-restore, pre-clone, pre-migrate); `kind` of --json is the result's kind. */
  backupKind: string
  /** The artifact, as core's backup result lists it. */
  artifacts: {path: string; bytes: number; kind: string}[]
  /** Size of the tarball. */
  bytes: number
  sha256: string
  entries: number
  database: {engine: string; name: string; dumpBytes: number; serverVersion?: string}
  /** UTC ISO-8601. */
  created: string
}

/**
 * provision-backup, natively: the site's database dumped as `database.sql` (0600) inside the site folder (the
 * journal records it first, so a killed run's dump is removed by the next run), the folder archived as a hidden
 * partial tarball in the location, the dump removed, the sidecar `<tarball>.bk.json` written, and only then the
 * tarball published under its name `<uri>-YYYYmmdd.HHMMSS.tar.gz` (0600; `_1`, `_2` when taken, never
 * overwritten). A tarball without its sidecar is never left looking complete; a failure leaves nothing behind.
 */
export async function backupSite(site: AegirSite, options: BackupOptions): Promise<BackupResult> {
  if (options.locked) return await writeBackup(site, options)
  const release = await lockTargets([site.dir], 'bk aegir backup')
  try {
    await recoverSite(site, {location: options.location})
    return await writeBackup(site, options)
  } finally {
    await release()
  }
}

async function writeBackup(site: AegirSite, options: BackupOptions): Promise<BackupResult> {
  const now = options.now ?? new Date()
  const description = options.description?.trim() || REASON_ON_REQUEST
  const kind = options.kind ?? 'full'
  await ensureLocation(options.location)

  const dump = join(site.dir, 'database.sql')
  if (await pathExists(dump)) {
    throw new BkError(
      `${dump} already exists (not made by bk, or by a bk older than this one); move it away and run the backup again`,
    )
  }
  const journal = options.journal ?? SiteJournal.forSite(site.dir, 'bk aegir backup')
  const file = await siteCatalog(options.location, site.uri).nextPath(now)
  const partial = join(options.location, `.${basename(file)}.bk-partial-${process.pid}.tar.gz`)
  let sidecarWritten = false
  const cleanup = () => {
    rmSync(dump, {force: true})
    rmSync(partial, {force: true})
    if (sidecarWritten) rmSync(`${file}.bk.json`, {force: true})
    journal.record({dump: undefined})
  }
  journal.record({dump})
  const unregister = onInterrupt(cleanup)
  try {
    const target = siteTarget(site.database)
    const serverVersion = await serverVersionOf(target)
    const dumped = await dumpDatabase(target, dump, {
      singleTransaction: true,
      routines: true,
      events: site.database.engine === 'mysql',
      stripDefiner: options.stripDefiner ?? true,
      // the dump must load under a new database user: no owners or grants of the old one (PostgreSQL)
      extraArgs: site.database.engine === 'postgres' ? ['--no-owner', '--no-privileges'] : [],
      mode: 0o600,
      onSpawn: options.onSpawn,
    }).catch((error: unknown) => {
      if (error instanceof BkError && /insufficient privileges to SHOW CREATE/i.test(error.message)) {
        throw new BkError(
          `${error.message.replace(/[.\s]+$/, '')}; a routine or trigger of ${site.database.database} belongs to another user: let the site's user read it (SELECT on mysql.proc) or redefine it as the site's user`,
          {code: error.code, cause: error},
        )
      }
      throw error
    })
    crashPoint('aegir:backup-dumped')
    if (!options.force) await checkPlausibleDump(dump, dumped.bytes, site.database.database)
    await chmod(dump, 0o600)
    const archive = await createArchive({
      cwd: site.dir,
      file: partial,
      secret: true,
      mode: 0o600,
      // provision's layout (`tar -C <site> -czf <file> .`): './database.sql', so `tar xzf <file> ./database.sql` works
      dotSlash: true,
      onProgress: options.onProgress,
    })
    crashPoint('aegir:backup-archived')
    const files = await treeTotals(site.dir)
    await rm(dump, {force: true})
    journal.record({dump: undefined})
    crashPoint('aegir:backup-dump-removed')
    const created = now.toISOString()
    sidecarWritten = true
    await writeBackupSidecar(file, {
      created,
      source: site.dir,
      description,
      kind,
      sha256: archive.sha256,
      bytes: archive.bytes,
      files,
      database: {engine: site.database.engine, name: site.database.database, serverVersion},
      extra: {uri: site.uri, platform: site.platformRoot, drupal: site.drupal?.major},
    })
    crashPoint('aegir:backup-sidecar')
    // publish: a hard link never replaces an existing name (EEXIST), then the partial name goes
    linkSync(partial, file)
    crashPoint('aegir:backup-linked')
    unlinkSync(partial)
    await fsyncDir(options.location)
    sidecarWritten = false
    return {
      file,
      uri: site.uri,
      site: site.dir,
      description,
      backupKind: kind,
      artifacts: [{path: file, bytes: archive.bytes, kind}],
      bytes: archive.bytes,
      sha256: archive.sha256,
      entries: archive.entries,
      database: {engine: site.database.engine, name: site.database.database, dumpBytes: dumped.bytes, serverVersion},
      created,
    }
  } catch (error) {
    cleanup()
    throw error
  } finally {
    unregister()
    if (!options.journal) journal.clear()
  }
}

/**
 * provision refuses a dump under 1024 bytes; a MariaDB dump of an empty database is larger than that, so bk
 * also wants a table in it (a Drupal site without tables is not a site, and its backup would restore nothing).
 */
async function checkPlausibleDump(file: string, bytes: number, database: string): Promise<void> {
  const hint = 'check the database and the credentials in settings.php, or use --force'
  if (bytes < MIN_DUMP_BYTES) {
    throw new BkError(`the dump of ${database} is only ${bytes} bytes, implausibly small for a Drupal site; ${hint}`)
  }
  const head = await readHead(file, 4 * 1024 * 1024)
  if (!/CREATE TABLE/i.test(head)) {
    throw new BkError(`the dump of ${database} holds no tables, implausible for a Drupal site; ${hint}`)
  }
}

async function readHead(file: string, max: number): Promise<string> {
  const handle = await open(file, 'r')
  try {
    const buffer = Buffer.alloc(max)
    const {bytesRead} = await handle.read(buffer, 0, max, 0)
    return buffer.toString('latin1', 0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** Regular files and their bytes in the site folder (the manifest's files component). */
async function treeTotals(dir: string): Promise<{count: number; bytes: number}> {
  let count = 0
  let bytes = 0
  for await (const entry of walk(dir)) {
    if (!entry.stat.isFile()) continue
    count++
    bytes += entry.stat.size
  }
  return {count, bytes}
}

async function serverVersionOf(target: ReturnType<typeof siteTarget>): Promise<string> {
  const client = dbClient(target)
  try {
    return await client.serverVersion()
  } finally {
    await client.close()
  }
}

/** The backup folder, made 0700 like provision's server verify does (dumps and credentials are inside). */
async function ensureLocation(location: string): Promise<void> {
  const info = await stat(location).catch(() => undefined)
  if (info && !info.isDirectory()) throw new BkError(`backup location ${location} is not a folder`)
  if (!info) await mkdir(location, {recursive: true, mode: 0o700})
}
