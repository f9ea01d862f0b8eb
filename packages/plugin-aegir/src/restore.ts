import {stat} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import {checkArchive} from '@bkcli/core/archive'
import {type DbTarget, dbClient} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {pathExists, sha256File} from '@bkcli/core/fs'
import {crashPoint} from '@bkcli/core/safety'
import {lockTargets, type Plan, step} from '@bkcli/core/workflow'
import {type BackupResult, backupSite} from './backup.js'
import {type DeployResult, deploySite} from './deploy.js'
import {SiteJournal} from './journal.js'
import {currentWebGroup} from './layout.js'
import {enterMaintenance} from './maintenance-window.js'
import {readBackupSidecar} from './manifest.js'
import {REASON_PRE_RESTORE, siteCatalog} from './naming.js'
import {backupSteps, newDatabaseSteps, pendingSteps, plannedDbName, retireSteps, settingsSteps} from './plans.js'
import {recoverSite} from './recover.js'
import {retireDatabase} from './retire.js'
import type {AegirSite} from './site.js'

export interface RestoreOptions {
  location: string
  admin: DbTarget
  grantHost?: string
  webGroup?: number
  /** Accept a small dump in the pre-restore backup. */
  force?: boolean
  stripDefiner?: boolean
  /** Name of the new database and user (default: from the uri, the first free one). */
  dbName?: string
  onStep?: (step: string) => void
  onSpawn?: (pid: number) => void
}

export interface RestoreResult {
  /** The backup restored, and the site folder it replaced (core's restore result). */
  source: string
  target: string
  /** What of the previous state is kept: the pre-restore backup. */
  kept: string[]
  site: string
  uri: string
  backup: string
  /** The pre-restore backup, kept whatever happens. */
  preRestoreBackup: string
  database: {old: string; new: string; user: string}
  tables: Record<string, number>
  oldDatabaseDropped: boolean
  warnings: string[]
  /** Seconds per step. */
  timings: {step: string; seconds: number}[]
}

/**
 * Aegir's Restore task, safely: check the archive first, put the site in maintenance mode (in the variable or
 * state its Drupal major honours), take a pre-restore backup that is kept also when the restore fails, deploy
 * the backup beside the site with a new database and user, commit it, then drop the old database and user.
 * A failure at any step leaves the live site folder and its database as they were (maintenance mode undone)
 * and the new database dropped; a killed run is undone or finished by the next run's `recover()`.
 */
export class SiteRestore {
  private checked = false

  private constructor(
    readonly site: AegirSite,
    readonly backup: string,
    readonly options: RestoreOptions,
  ) {}

  static async open(site: AegirSite, backupArg: string | undefined, options: RestoreOptions): Promise<SiteRestore> {
    return new SiteRestore(site, await resolveBackup(options.location, site.uri, backupArg), options)
  }

  /** Reads only: the archive checked, the admin account tried, every database, user, folder and file named. */
  async plan(): Promise<Plan> {
    const {site, backup, options} = this
    await checkBackup(backup)
    this.checked = true
    const grantHost = options.grantHost ?? '%'
    const name = await plannedDbName(options.admin, site.uri, grantHost, options.dbName)
    const bytes = (await stat(backup)).size
    const major = site.drupal?.major
    return {
      summary: `restore ${site.uri} (${site.dir}) from ${basename(backup)}`,
      steps: [
        ...(await pendingSteps(site)),
        step('check', backup, 'checksum / archive read through', bytes),
        ...(major === undefined ? [] : [step('stop', site.uri, `maintenance mode on in ${site.database.database}`)]),
        ...(await backupSteps(site, options.location, 'pre-restore backup, kept')).filter((s) => s.op !== 'check'),
        step('create', join(site.dir, '..', `.${site.uri}.bk-stage-<pid>`), `the backup unpacked beside the site`),
        ...newDatabaseSteps(site.database.engine, name, grantHost, basename(backup)),
        ...(await settingsSteps(site.dir, 'credentials of the new database')),
        step('replace', site.dir, `with the site folder of ${basename(backup)}`, bytes),
        ...retireSteps(site.database),
        ...(major === undefined ? [] : [step('start', site.uri, 'maintenance mode as it was before the restore')]),
      ],
      warnings: major === undefined ? ['Drupal version unknown: the site is not put in maintenance mode'] : undefined,
    }
  }

  async recover(): Promise<string[]> {
    return recoverSite(this.site, {admin: this.options.admin, location: this.options.location})
  }

  async run(): Promise<RestoreResult> {
    const {site, backup, options} = this
    // each step's duration, for --json and the benchmark (the pre-restore backup is most of a big restore)
    const timings: {step: string; seconds: number}[] = []
    let last = {step: 'start', at: Date.now()}
    const stepDone = (name: string) => {
      const now = Date.now()
      if (last.step !== 'start') timings.push({step: last.step, seconds: (now - last.at) / 1000})
      last = {step: name, at: now}
      options.onStep?.(name)
    }
    if (!this.checked) {
      stepDone(`checking ${basename(backup)}`)
      await checkBackup(backup)
    }
    // the admin account must work before anything changes
    const admin = dbClient(options.admin)
    try {
      await admin.serverVersion()
    } finally {
      await admin.close()
    }

    const warnings: string[] = []
    const journal = SiteJournal.forSite(site.dir, 'bk aegir restore')
    const maintenance = await enterMaintenance(site, stepDone, warnings, journal)

    let pre: BackupResult | undefined
    let deployed: DeployResult
    try {
      stepDone('pre-restore backup')
      pre = await backupSite(site, {
        location: options.location,
        description: REASON_PRE_RESTORE,
        kind: 'pre-restore',
        locked: true,
        journal,
        force: options.force,
        stripDefiner: options.stripDefiner,
      })
      crashPoint('aegir:pre-restore-backup')
      deployed = await deploySite({
        backupFile: backup,
        targetDir: site.dir,
        fromUri: (await backupUri(backup)) ?? site.uri,
        toUri: site.uri,
        admin: options.admin,
        grantHost: options.grantHost ?? '%',
        site: site.database,
        webGroup: options.webGroup ?? (await currentWebGroup(site.dir)),
        maintenance: maintenance.carryOver,
        onSpawn: options.onSpawn,
        onStep: stepDone,
        dbName: options.dbName,
        journal,
        retire: {database: site.database.database, user: site.database.username},
      })
    } catch (error) {
      await maintenance.leave()
      if (pre && error instanceof BkError) {
        const message = `${error.message.replace(/[.\s]+$/, '')}; the live site is unchanged and the pre-restore backup is kept: ${pre.file}`
        throw new BkError(message, {exit: error.exit, code: error.code, cause: error})
      }
      throw error
    }
    maintenance.forget()

    stepDone('dropping the old database')
    const retired = await retireDatabase(options.admin, site.database, options.grantHost ?? '%')
    crashPoint('aegir:retired')
    journal.clear()
    warnings.push(...retired.warnings)
    stepDone('done')
    return {
      source: backup,
      target: site.dir,
      kept: [pre.file],
      timings,
      site: site.dir,
      uri: site.uri,
      backup,
      preRestoreBackup: pre.file,
      database: {old: site.database.database, new: deployed.database, user: deployed.username},
      tables: deployed.tables,
      oldDatabaseDropped: retired.dropped,
      warnings: [...warnings, ...deployed.warnings],
    }
  }
}

/** A restore outside a command (library, tests): the site locked and recovered, then restored. */
export async function restoreSite(
  site: AegirSite,
  backupArg: string | undefined,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const release = await lockTargets([site.dir], 'bk aegir restore')
  try {
    const restore = await SiteRestore.open(site, backupArg, options)
    await restore.recover()
    return await restore.run()
  } finally {
    await release()
  }
}

/** The backup to restore: a path, a name in the location, or (none given) the site's newest backup. */
export async function resolveBackup(
  location: string,
  uri: string | undefined,
  arg: string | undefined,
): Promise<string> {
  if (arg) {
    for (const candidate of [resolve(arg), join(location, arg)]) if (await pathExists(candidate)) return candidate
    throw new BkError(`no backup '${arg}' (as a path or in ${location}); see bk aegir list`)
  }
  if (uri === undefined) throw new BkError('give the backup file')
  const newest = (await siteCatalog(location, uri).list()).find((e) => e.type === 'file')
  if (!newest) throw new BkError(`no backup of ${uri} in ${location}; give the backup file`)
  return newest.path
}

/**
 * Before anything changes: a tarball with bk's sidecar must match the checksum recorded when it was written
 * (then it is bk's own archive, byte for byte, and extraction checks gzip and every entry again); a tarball
 * without one (made by provision) is read through first (gzip CRC, tar headers, unsafe paths).
 */
export async function checkBackup(file: string): Promise<void> {
  const sidecar = await readBackupSidecar(file)
  if (sidecar?.sha256) {
    if (sidecar.sha256 !== (await sha256File(file))) {
      throw new BkError(`${file} does not match the checksum recorded when it was made; it changed or is damaged`)
    }
    return
  }
  const check = await checkArchive(file)
  if (check.unsafe.length > 0) {
    throw new BkError(`${file} has unsafe entries (${check.unsafe[0]}); refusing to restore it`)
  }
}

/** The uri a backup was made of: from its sidecar, else from its provision name. */
export async function backupUri(file: string): Promise<string | undefined> {
  const name = basename(file)
  const m = /^(.+)-\d{8}\.\d{6}(?:_\d+)?\.(?:tar\.gz|tgz|tar\.bz2|tar)$/.exec(name)
  return m?.[1]
}
