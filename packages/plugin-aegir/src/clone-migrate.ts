import {rm, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import type {DbTarget} from '@bkcli/core/db'
import {BkError, messageOf} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {crashPoint} from '@bkcli/core/safety'
import {lockTargets, type Plan, step} from '@bkcli/core/workflow'
import {type BackupResult, backupSite} from './backup.js'
import {type DeployResult, deploySite, stagePathOf} from './deploy.js'
import {SiteJournal} from './journal.js'
import {currentWebGroup} from './layout.js'
import {enterMaintenance} from './maintenance-window.js'
import {backupSteps, newDatabaseSteps, plannedDbName, retireSteps, settingsSteps} from './plans.js'
import {recoverSite} from './recover.js'
import {retireDatabase} from './retire.js'
import type {AegirSite} from './site.js'

export interface CopyOptions {
  location: string
  admin: DbTarget
  grantHost?: string
  webGroup?: number
  force?: boolean
  stripDefiner?: boolean
  /** Name of the new database and user (default: from the uri, the first free one). */
  dbName?: string
  onStep?: (step: string) => void
}

export interface CloneResult {
  /** The site copied, and the new site folder (core's restore result). */
  source: string
  target: string
  site: string
  uri: string
  backup: string
  database: string
  user: string
  tables: Record<string, number>
  /** Values in the database whose `sites/<old-uri>` paths were rewritten. */
  rewrittenValues: number
  warnings: string[]
}

export interface MigrateResult extends CloneResult {
  oldDatabaseDropped: boolean
  oldSiteRemoved: boolean
}

const URI = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i

/** A site uri as Aegir accepts it (a host name; not `all` or `default`). */
export function checkUri(uri: string): void {
  if (!URI.test(uri) || uri === 'all' || uri === 'default') {
    throw new BkError(`'${uri}' is not a site uri (a host name such as www.example.org)`)
  }
}

async function freeTarget(dir: string): Promise<void> {
  if (await pathExists(dir)) throw new BkError(`${dir} already exists; choose another uri or remove it first`)
}

/**
 * provision-clone: a backup of the running site deployed as a new site `<platform>/sites/<newUri>` with its own
 * database and user; `sites/<old-uri>` paths become `sites/<new-uri>` in the files' settings and in the
 * database (serialized values included). The source keeps running, untouched.
 */
export class SiteClone {
  readonly target: string

  constructor(
    readonly site: AegirSite,
    readonly newUri: string,
    readonly options: CopyOptions,
  ) {
    checkUri(newUri)
    if (!site.platformRoot)
      throw new BkError(`${site.dir} is not in a platform's sites/ folder; cannot place a clone beside it`)
    this.target = join(site.platformRoot, 'sites', newUri)
  }

  get locks(): string[] {
    return [this.site.dir, this.target]
  }

  async plan(): Promise<Plan> {
    const {site, options, target, newUri} = this
    await freeTarget(target)
    const grantHost = options.grantHost ?? '%'
    const name = await plannedDbName(options.admin, newUri, grantHost, options.dbName)
    return {
      summary: `clone ${site.uri} (${site.dir}) as ${newUri}`,
      steps: [
        ...(await backupSteps(site, options.location, 'pre-clone backup, kept')),
        step('create', stagePathOf(target).replace(/\d+$/, '<pid>'), 'the backup unpacked beside the new site'),
        ...newDatabaseSteps(site.database.engine, name, grantHost, `the pre-clone backup`),
        ...(await settingsSteps(target, `new credentials, sites/${site.uri} paths to sites/${newUri}`)),
        step('create', target, `the new site (paths in the database rewritten to sites/${newUri})`),
      ],
    }
  }

  recover(): Promise<string[]> {
    return recoverSite(this.site, {admin: this.options.admin, location: this.options.location})
  }

  async run(): Promise<CloneResult> {
    const {site, newUri, target, options} = this
    await freeTarget(target)
    const journal = SiteJournal.forSite(site.dir, 'bk aegir clone')
    options.onStep?.('backup of the source')
    const backup = await backupSite(site, {
      location: options.location,
      description: `Generated before being cloned to ${newUri}`,
      kind: 'pre-clone',
      locked: true,
      journal,
      force: options.force,
      stripDefiner: options.stripDefiner,
    })
    const deployed = await deploySite({
      backupFile: backup.file,
      targetDir: target,
      fromUri: site.uri,
      toUri: newUri,
      admin: options.admin,
      grantHost: options.grantHost ?? '%',
      site: site.database,
      webGroup: options.webGroup ?? (await currentWebGroup(site.dir)),
      onStep: options.onStep,
      dbName: options.dbName,
      journal,
    })
    journal.clear()
    return summary(site, newUri, backup, deployed)
  }
}

export async function cloneSite(site: AegirSite, newUri: string, options: CopyOptions): Promise<CloneResult> {
  const clone = new SiteClone(site, newUri, options)
  await freeTarget(clone.target)
  const release = await lockTargets(clone.locks, 'bk aegir clone')
  try {
    await clone.recover()
    return await clone.run()
  } finally {
    await release()
  }
}

/**
 * provision-migrate: the site moves to another platform (optionally under a new uri). It is put in maintenance
 * mode, backed up, deployed into `<platform>/sites/<uri>` with a new database, and only then retired: its old
 * database, user and folder are removed. A failure leaves the source running as before.
 */
export class SiteMigrate {
  readonly platform: string
  readonly uri: string
  readonly target: string

  constructor(
    readonly site: AegirSite,
    readonly platformDir: string,
    readonly options: CopyOptions & {newUri?: string},
  ) {
    this.platform = resolve(platformDir)
    this.uri = options.newUri ?? site.uri
    checkUri(this.uri)
    this.target = join(this.platform, 'sites', this.uri)
  }

  get locks(): string[] {
    return [this.site.dir, this.target]
  }

  private async check(): Promise<void> {
    if (!(await stat(join(this.platform, 'sites')).catch(() => undefined))?.isDirectory()) {
      throw new BkError(`${this.platformDir} is not a Drupal platform (it has no sites/ folder)`)
    }
    if (resolve(this.target) === this.site.dir) throw new BkError(`${this.site.uri} is already on ${this.platformDir}`)
    await freeTarget(this.target)
  }

  async plan(): Promise<Plan> {
    const {site, options, target, uri} = this
    await this.check()
    const grantHost = options.grantHost ?? '%'
    const name = await plannedDbName(options.admin, uri, grantHost, options.dbName)
    const major = site.drupal?.major
    return {
      summary: `migrate ${site.uri} (${site.dir}) to ${target}`,
      steps: [
        ...(major === undefined ? [] : [step('stop', site.uri, `maintenance mode on in ${site.database.database}`)]),
        ...(await backupSteps(site, options.location, 'pre-migrate backup, kept')),
        step('create', stagePathOf(target).replace(/\d+$/, '<pid>'), 'the backup unpacked beside the new site'),
        ...newDatabaseSteps(site.database.engine, name, grantHost, 'the pre-migrate backup'),
        ...(await settingsSteps(target, `new credentials, platform ${this.platform}`)),
        step('create', target, 'the migrated site (maintenance mode as it was before)'),
        ...retireSteps(site.database),
        step('remove', site.dir, 'the old site folder'),
      ],
    }
  }

  recover(): Promise<string[]> {
    return recoverSite(this.site, {admin: this.options.admin, location: this.options.location})
  }

  async run(): Promise<MigrateResult> {
    const {site, options, target, uri, platform, platformDir} = this
    await this.check()
    const step = options.onStep ?? (() => {})
    const warnings: string[] = []
    const journal = SiteJournal.forSite(site.dir, 'bk aegir migrate')
    const maintenance = await enterMaintenance(site, step, warnings, journal)
    let backup: BackupResult
    let deployed: DeployResult
    try {
      step('backup of the source')
      backup = await backupSite(site, {
        location: options.location,
        description: `Generated before being migrated to ${platformDir}`,
        kind: 'pre-migrate',
        locked: true,
        journal,
        force: options.force,
        stripDefiner: options.stripDefiner,
      })
      deployed = await deploySite({
        backupFile: backup.file,
        targetDir: target,
        fromUri: site.uri,
        toUri: uri,
        toPlatformRoot: platform,
        admin: options.admin,
        grantHost: options.grantHost ?? '%',
        site: site.database,
        webGroup: options.webGroup ?? (await currentWebGroup(site.dir)),
        maintenance: maintenance.carryOver,
        onStep: step,
        dbName: options.dbName,
        journal,
        retire: {database: site.database.database, user: site.database.username, folder: site.dir},
      })
    } catch (error) {
      await maintenance.leave()
      throw error
    }
    maintenance.forget()
    step('retiring the old site')
    const retired = await retireDatabase(options.admin, site.database, options.grantHost ?? '%')
    crashPoint('aegir:retired')
    warnings.push(...retired.warnings)
    let oldSiteRemoved = false
    try {
      await rm(site.dir, {recursive: true})
      oldSiteRemoved = true
    } catch (error) {
      warnings.push(`could not remove the old site folder ${site.dir}: ${messageOf(error)}`)
    }
    journal.clear()
    return {
      ...summary(site, uri, backup, deployed),
      oldDatabaseDropped: retired.dropped,
      oldSiteRemoved,
      warnings: [...warnings, ...deployed.warnings],
    }
  }
}

export async function migrateSite(
  site: AegirSite,
  platformDir: string,
  options: CopyOptions & {newUri?: string},
): Promise<MigrateResult> {
  const migrate = new SiteMigrate(site, platformDir, options)
  const release = await lockTargets(migrate.locks, 'bk aegir migrate')
  try {
    await migrate.recover()
    return await migrate.run()
  } finally {
    await release()
  }
}

function summary(site: AegirSite, uri: string, backup: BackupResult, deployed: DeployResult): CloneResult {
  return {
    source: site.dir,
    target: deployed.dir,
    site: deployed.dir,
    uri,
    backup: backup.file,
    database: deployed.database,
    user: deployed.username,
    tables: deployed.tables,
    rewrittenValues: deployed.rewrittenValues,
    warnings: deployed.warnings,
  }
}
