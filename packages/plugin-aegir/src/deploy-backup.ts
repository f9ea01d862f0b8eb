import {lstat, stat} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import {readArchiveMember} from '@bkcli/core/archive'
import {type DbTarget, dbClient} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {type Plan, step} from '@bkcli/core/workflow'
import {checkUri} from './clone-migrate.js'
import {adminUrl, type DeployResult, deploySite, stagePathOf} from './deploy.js'
import {type SiteDatabase, siteDatabaseFromTexts} from './drupal/credentials.js'
import {readJournal, SiteJournal} from './journal.js'
import {currentWebGroup, type Owner} from './layout.js'
import {PhpConfig} from './php/assignments.js'
import {newDatabaseSteps, pendingSteps, plannedDbName, settingsSteps} from './plans.js'
import {recoverSite} from './recover.js'
import {backupUri, checkBackup, resolveBackup} from './restore.js'
import {discoverSites, openSite} from './site.js'

/** The command a deploy's journal names. */
const DEPLOY = 'bk aegir deploy'

export interface BackupDeployOptions {
  location: string
  admin: DbTarget
  grantHost?: string
  /** The site's uri on this platform (default: the uri the backup was made of). */
  uri?: string
  /** The uri the backup was made of, when its name does not say (provision's old_uri). */
  oldUri?: string
  webGroup?: number
  /** Owner of the site's files (default: a sibling site's, else the platform's sites/ folder's). */
  owner?: Owner
  dbName?: string
  onStep?: (step: string) => void
  onSpawn?: (pid: number) => void
}

export interface BackupDeployResult {
  /** The backup deployed, and the new site folder (core's restore result). */
  source: string
  target: string
  site: string
  uri: string
  backup: string
  database: string
  user: string
  engine: SiteDatabase['engine']
  owner: Owner
  webGroup?: number
  tables: Record<string, number>
  rewrittenValues: number
  /** The site was put in place by a killed earlier run, finished by this run's recovery. */
  finishedByRecovery: boolean
  warnings: string[]
}

/**
 * provision-deploy onto a platform where the site does not exist (recovery onto a fresh server): the backup is
 * checked as restore checks it, unpacked in a stage beside `<platform>/sites/<uri>`, a new database and user are
 * made through the admin account, the dump loaded, settings.php/drushrc.php rewritten for them (and for the
 * platform and uri), the files given the owner of the platform's other sites and provision's modes, and the
 * folder committed at once. Nothing of a failed or killed run stays (the next run undoes it through the journal).
 */
export class BackupDeploy {
  readonly platform: string
  readonly target: string
  readonly fromUri: string
  readonly uri: string
  private finished = false
  /** plan() read the archive through already (as restore, the run does not again). */
  private checked = false

  private constructor(
    readonly backup: string,
    platformDir: string,
    fromUri: string,
    readonly options: BackupDeployOptions,
  ) {
    this.platform = resolve(platformDir)
    this.fromUri = fromUri
    this.uri = options.uri ?? fromUri
    checkUri(this.uri)
    this.target = join(this.platform, 'sites', this.uri)
  }

  /**
   * The backup: a path, or a name in the location. The uri it was made of: --old-uri, else its provision name,
   * else the `uri` of its drushrc.php.
   */
  static async open(backupArg: string, platformDir: string, options: BackupDeployOptions): Promise<BackupDeploy> {
    const file = await resolveBackup(options.location, undefined, backupArg)
    if (!(await stat(file)).isFile()) throw new BkError(`${file} is not a backup tarball (it is not a file)`)
    const drushrc = async () => {
      const text = await readArchiveMember(file, 'drushrc.php', {maxBytes: 1 << 20})
      return text ? drushrcUri(text.toString('utf8')) : undefined
    }
    const fromUri = options.oldUri ?? (await backupUri(file)) ?? (await drushrc())
    if (!fromUri) throw new BkError(`cannot tell which site ${basename(file)} is a backup of; give --old-uri <uri>`)
    return new BackupDeploy(file, platformDir, fromUri, options)
  }

  get locks(): string[] {
    return [this.target]
  }

  /** The target is free (or a killed deploy's journal is pending, which recovery undoes or finishes). */
  private async check(): Promise<void> {
    if (!(await stat(join(this.platform, 'sites')).catch(() => undefined))?.isDirectory()) {
      throw new BkError(`${this.platform} is not a Drupal platform (it has no sites/ folder)`)
    }
    // a site in place is refused, unless it is the one a killed deploy committed (its recovery finishes it)
    if ((await lstat(this.target).catch(() => undefined)) && readJournal(this.target)?.command !== DEPLOY) {
      throw new BkError(
        `${this.uri} already exists on ${this.platform} (${this.target}); to put a backup over it use bk aegir restore`,
      )
    }
  }

  /** The engine and driver of the backup's site (from its settings.php / drushrc.php), matched with the admin's. */
  private async backupDatabase(): Promise<Pick<SiteDatabase, 'engine' | 'driver' | 'host' | 'port'>> {
    const text = async (name: string) =>
      (await readArchiveMember(this.backup, name, {maxBytes: 1 << 20}))?.toString('utf8')
    const settings = await text('settings.php')
    const drushrc = await text('drushrc.php')
    const admin = this.options.admin
    let engine: SiteDatabase['engine'] = admin.engine === 'postgres' ? 'postgres' : 'mysql'
    let driver = engine === 'postgres' ? 'pgsql' : 'mysql'
    try {
      const db = siteDatabaseFromTexts(basename(this.backup), settings, drushrc)
      engine = db.engine
      driver = db.driver
    } catch {
      // cloaked credentials without drushrc.php: the admin account's engine decides (the rewrite says more)
    }
    if (engine !== admin.engine) {
      throw new BkError(
        `${basename(this.backup)} is a ${engine === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} site; give a --db-admin-url of that engine`,
      )
    }
    const port = admin.port ?? (engine === 'mysql' ? 3306 : 5432)
    return {engine, driver, host: admin.host ?? 'localhost', port}
  }

  /** The owner and web group of the platform's other sites (first sibling), else of its sites/ folder. */
  async ownership(): Promise<{owner: Owner; webGroup?: number; from: string}> {
    const siblings = (await discoverSites(this.platform).catch(() => [] as string[])).filter((s) => s !== this.target)
    const sibling = siblings[0]
    const from = sibling ?? join(this.platform, 'sites')
    const info = await stat(from)
    const owner = this.options.owner ?? {uid: info.uid, gid: info.gid}
    const webGroup = this.options.webGroup ?? (sibling ? await currentWebGroup(sibling) : undefined)
    return {owner, webGroup, from: this.options.owner ? '--owner' : from}
  }

  async plan(): Promise<Plan> {
    const {options, target, backup} = this
    await this.check()
    await checkBackup(backup)
    this.checked = true
    const db = await this.backupDatabase()
    const grantHost = options.grantHost ?? '%'
    const name = await plannedDbName(options.admin, this.uri, grantHost, options.dbName)
    const own = await this.ownership()
    const warnings: string[] = []
    if (process.getuid?.() !== 0 && own.owner.uid !== process.getuid?.()) {
      warnings.push(`not running as root: the files stay owned by uid ${process.getuid?.()}, not ${own.owner.uid}`)
    }
    return {
      summary: `deploy ${basename(backup)} as ${this.uri} on ${this.platform} (${db.engine} via ${adminUrl(options.admin)})`,
      steps: [
        ...(await pendingSteps({dir: target})),
        step('check', backup, 'checksum / archive read through', (await stat(backup)).size),
        step('create', stagePathOf(target).replace(/\d+$/, '<pid>'), 'the backup unpacked beside the new site'),
        ...newDatabaseSteps(db.engine, name, grantHost, basename(backup)),
        ...(await settingsSteps(target, `new credentials, platform ${this.platform}, uri ${this.uri}`)),
        step(
          'create',
          target,
          `owner ${own.owner.uid}:${own.owner.gid} (as ${own.from})${own.webGroup === undefined ? '' : `, web group ${own.webGroup}`}`,
        ),
      ],
      warnings: warnings.length > 0 ? warnings : undefined,
    }
  }

  async recover(): Promise<string[]> {
    const lines = await recoverSite(
      {dir: this.target, uri: this.uri},
      {admin: this.options.admin, location: this.options.location},
    )
    this.finished = lines.some((l) => l.startsWith(`finished '${DEPLOY}'`)) && (await pathExists(this.target))
    return lines
  }

  async run(): Promise<BackupDeployResult> {
    const {options, target, backup} = this
    if (await pathExists(target)) {
      if (this.finished) return this.finishedResult()
      throw new BkError(
        `${this.uri} already exists on ${this.platform} (${target}); to put a backup over it use bk aegir restore`,
      )
    }
    if (!this.checked) {
      options.onStep?.(`checking ${basename(backup)}`)
      await checkBackup(backup)
    }
    const db = await this.backupDatabase()
    const own = await this.ownership()
    const journal = SiteJournal.forSite(target, DEPLOY)
    const deployed: DeployResult = await deploySite({
      backupFile: backup,
      targetDir: target,
      fromUri: this.fromUri,
      toUri: this.uri,
      toPlatformRoot: this.platform,
      admin: options.admin,
      grantHost: options.grantHost ?? '%',
      site: db,
      webGroup: own.webGroup,
      owner: process.getuid?.() === 0 ? own.owner : undefined,
      onSpawn: options.onSpawn,
      onStep: options.onStep,
      dbName: options.dbName,
      journal,
    })
    journal.clear()
    return {
      source: backup,
      target,
      site: target,
      uri: this.uri,
      backup,
      database: deployed.database,
      user: deployed.username,
      engine: db.engine,
      owner: own.owner,
      webGroup: own.webGroup,
      tables: deployed.tables,
      rewrittenValues: deployed.rewrittenValues,
      finishedByRecovery: false,
      warnings: deployed.warnings,
    }
  }

  /** A killed run had committed the site: verified as a deploy verifies (its database has tables), then reported. */
  private async finishedResult(): Promise<BackupDeployResult> {
    const site = await openSite(this.target)
    const admin = dbClient(this.options.admin)
    let tables: Record<string, number>
    try {
      tables = await admin.tableCounts(site.database.database)
    } finally {
      await admin.close()
    }
    if (Object.keys(tables).length === 0) {
      throw new BkError(
        `${this.target} was put in place by an interrupted deploy but its database ${site.database.database} has no tables`,
      )
    }
    const info = await stat(this.target)
    return {
      source: this.backup,
      target: this.target,
      site: this.target,
      uri: this.uri,
      backup: this.backup,
      database: site.database.database,
      user: site.database.username,
      engine: site.database.engine,
      owner: {uid: info.uid, gid: info.gid},
      webGroup: await currentWebGroup(this.target),
      tables,
      rewrittenValues: 0,
      finishedByRecovery: true,
      warnings: [],
    }
  }
}

/** The `uri` option of a drushrc.php (what Aegir records as the site's uri). */
export function drushrcUri(text: string): string | undefined {
  return new PhpConfig(text).string('$options', 'uri')
}
