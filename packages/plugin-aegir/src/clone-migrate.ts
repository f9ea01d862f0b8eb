import {rm, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {acquireLock, BkError, type DbTarget, messageOf, pathExists} from '@bkcli/core'
import {type BackupResult, backupSite} from './backup.js'
import {type DeployResult, deploySite} from './deploy.js'
import {currentWebGroup} from './layout.js'
import {enterMaintenance} from './maintenance-window.js'
import {retireDatabase} from './retire.js'
import type {AegirSite} from './site.js'

export interface CopyOptions {
  location: string
  admin: DbTarget
  grantHost?: string
  webGroup?: number
  force?: boolean
  stripDefiner?: boolean
  onStep?: (step: string) => void
}

export interface CloneResult {
  source: string
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

function checkUri(uri: string): void {
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
export async function cloneSite(site: AegirSite, newUri: string, options: CopyOptions): Promise<CloneResult> {
  checkUri(newUri)
  if (!site.platformRoot)
    throw new BkError(`${site.dir} is not in a platform's sites/ folder; cannot place a clone beside it`)
  const target = join(site.platformRoot, 'sites', newUri)
  await freeTarget(target)
  const lock = await acquireLock(site.dir, {operation: 'bk aegir clone'})
  try {
    options.onStep?.('backup of the source')
    const backup = await backupSite(site, {
      location: options.location,
      description: `Generated before being cloned to ${newUri}`,
      kind: 'pre-clone',
      locked: true,
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
    })
    return summary(site, newUri, backup, deployed)
  } finally {
    await lock.release()
  }
}

/**
 * provision-migrate: the site moves to another platform (optionally under a new uri). It is put in maintenance
 * mode, backed up, deployed into `<platform>/sites/<uri>` with a new database, and only then retired: its old
 * database, user and folder are removed. A failure leaves the source running as before.
 */
export async function migrateSite(
  site: AegirSite,
  platformDir: string,
  options: CopyOptions & {newUri?: string},
): Promise<MigrateResult> {
  const platform = resolve(platformDir)
  const uri = options.newUri ?? site.uri
  checkUri(uri)
  if (!(await stat(join(platform, 'sites')).catch(() => undefined))?.isDirectory()) {
    throw new BkError(`${platformDir} is not a Drupal platform (it has no sites/ folder)`)
  }
  const target = join(platform, 'sites', uri)
  if (resolve(target) === site.dir) throw new BkError(`${site.uri} is already on ${platformDir}`)
  await freeTarget(target)
  const step = options.onStep ?? (() => {})
  const lock = await acquireLock(site.dir, {operation: 'bk aegir migrate'})
  try {
    const warnings: string[] = []
    const maintenance = await enterMaintenance(site, step, warnings)
    let backup: BackupResult
    let deployed: DeployResult
    try {
      step('backup of the source')
      backup = await backupSite(site, {
        location: options.location,
        description: `Generated before being migrated to ${platformDir}`,
        kind: 'pre-migrate',
        locked: true,
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
      })
    } catch (error) {
      await maintenance.leave()
      throw error
    }
    step('retiring the old site')
    const retired = await retireDatabase(options.admin, site.database, options.grantHost ?? '%')
    warnings.push(...retired.warnings)
    let oldSiteRemoved = false
    try {
      await rm(site.dir, {recursive: true})
      oldSiteRemoved = true
    } catch (error) {
      warnings.push(`could not remove the old site folder ${site.dir}: ${messageOf(error)}`)
    }
    return {
      ...summary(site, uri, backup, deployed),
      oldDatabaseDropped: retired.dropped,
      oldSiteRemoved,
      warnings: [...warnings, ...deployed.warnings],
    }
  } finally {
    await lock.release()
  }
}

function summary(site: AegirSite, uri: string, backup: BackupResult, deployed: DeployResult): CloneResult {
  return {
    source: site.dir,
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
