import {existsSync, rmSync} from 'node:fs'
import {chmod, chown, lstat, mkdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {extractArchive} from '@bkcli/core/archive'
import {type DbClient, type DbTarget, dbClient, loadDump} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {fsyncTree, pathExists} from '@bkcli/core/fs'
import {atomicFile, crashPoint, onInterrupt} from '@bkcli/core/safety'
import {commitParts, journalPathFor} from '@bkcli/core/workflow'
import {newPassword, suggestDbName} from './db-names.js'
import {type SiteDatabase, usesServerCredentials} from './drupal/credentials.js'
import {setMaintenance} from './drupal/maintenance.js'
import {
  platformRootInSettings,
  rewriteDrushrcCredentials,
  rewriteDrushrcOption,
  rewriteSettingsCredentials,
  rewriteSitePathsInText,
} from './drupal/rewrite-settings.js'
import {rewriteDumpFile, sitePathLineRewriter} from './dump/rewrite-dump.js'
import {type JournalState, SiteJournal} from './journal.js'
import {applyProvisionLayout, chownTree, type Owner} from './layout.js'
import {sessionFor} from './session.js'
import {siteTarget} from './target.js'

/** provision-deploy: a backup tarball becomes a live site folder with a database of its own. */
export interface DeployPlan {
  backupFile: string
  /** The site folder to create, or to replace (restore). */
  targetDir: string
  /** The uri the backup was made of, and the uri it becomes (clone: a new one). */
  fromUri: string
  toUri: string
  /** The platform root the site moves to (migrate); settings.php's include paths follow it. */
  toPlatformRoot?: string
  admin: DbTarget
  /** Host part of the new MySQL account. */
  grantHost: string
  /** How the site reaches its database server (kept from the site's settings). */
  site: Pick<SiteDatabase, 'engine' | 'driver' | 'host' | 'port'>
  /** Group for files/ and settings.php; undefined keeps the archive's. */
  webGroup?: number
  /** Owner of every file of the deployed folder (before the web group); undefined keeps the archive's (as root). */
  owner?: Owner
  /** Drupal major and the raw maintenance value the deployed site gets (the live site's own from before). */
  maintenance?: {major: number; value: string | undefined}
  onSpawn?: (pid: number) => void
  /** Called as each step starts (progress narration). */
  onStep?: (step: string) => void
  /** Name of the new database and user (default: provision's suggest_db_name from the uri, the first free one). */
  dbName?: string
  /** The run's journal (beside the site the command works on); default: one beside the target. */
  journal?: SiteJournal
  /** What the caller retires once the new site is committed (recorded with the commit, for recovery). */
  retire?: JournalState['retire']
}

export interface DeployResult {
  dir: string
  database: string
  username: string
  /** Rows per table in the new database. */
  tables: Record<string, number>
  /** Values rewritten in the dump (sites/<old> → sites/<new>). */
  rewrittenValues: number
  warnings: string[]
}

/** The admin account as a URL without its password (what a journal may hold). */
export function adminUrl(target: DbTarget): string {
  const host = target.host?.includes(':') ? `[${target.host}]` : target.host
  return `${target.engine}://${encodeURIComponent(target.user ?? '')}@${host ?? ''}${target.port ? `:${target.port}` : ''}/`
}

/** The stage a deploy fills beside its target: swept by recovery when its pid is gone. */
export function stagePathOf(target: string, pid = process.pid): string {
  const abs = resolve(target)
  return join(dirname(abs), `.${basename(abs)}.bk-stage-${pid}`)
}

/**
 * Unpacks the backup in a stage beside the target, creates a new database and user (fresh password) through
 * the admin account, imports the dump as the new user, rewrites settings.php/drushrc.php (credentials, and
 * paths when the uri or platform changes), gives the folder provision's modes and web group, fsyncs it, then
 * commits it with core's commitParts. The journal records the stage and the database before they exist, so a
 * killed run is undone (or, once committing, finished) by the next one. Any failure before the commit removes
 * the stage and the new database and user; the target is as it was.
 */
export async function deploySite(plan: DeployPlan): Promise<DeployResult> {
  const admin = dbClient(plan.admin)
  const step = plan.onStep ?? (() => {})
  const target = resolve(plan.targetDir)
  const parent = dirname(target)
  if (!(await stat(parent).catch(() => undefined))?.isDirectory()) {
    throw new BkError(`cannot deploy to ${target}: its parent folder ${parent} does not exist`, {code: 'ENOENT'})
  }
  const existing = await lstat(target).catch(() => undefined)
  if (existing && !existing.isDirectory()) throw new BkError(`cannot deploy to ${target}: it is not a folder`)
  const journal = plan.journal ?? SiteJournal.forSite(target, 'bk aegir deploy')
  const stage = stagePathOf(target)
  let created: {database?: string; user?: string} = {}
  let committing = false
  let committed = false
  const unregister = onInterrupt(() => {
    if (!committing) rmSync(stage, {recursive: true, force: true})
  })
  try {
    await admin.serverVersion()
    const taken = async (name: string) =>
      (await admin.databaseExists(name)) || (await admin.userExists(name, userOptions(plan)))
    const database = plan.dbName ?? (await suggestDbName(plan.toUri, taken))
    if (plan.dbName && (await taken(plan.dbName))) {
      throw new BkError(`a database or user named ${plan.dbName} already exists; choose another --db-name`)
    }
    const username = database
    const password = newPassword()
    const newDb = {...plan.site, database, username, password, host: plan.site.host, port: plan.site.port}
    let rewrittenValues = 0
    const warnings: string[] = []
    journal.record({admin: {url: adminUrl(plan.admin), grantHost: plan.grantHost}, stage, target, phase: 'staging'})
    await rm(stage, {recursive: true, force: true})
    await mkdir(stage, {mode: 0o700})
    await chmod(stage, existing ? existing.mode & 0o7777 : 0o755)
    step('unpacking')
    await extractArchive({file: plan.backupFile, target: stage})
    const dump = join(stage, 'database.sql')
    if (!(await pathExists(dump))) {
      throw new BkError(
        `${plan.backupFile} holds no database.sql; it is not a site backup (the live site is untouched)`,
      )
    }
    step('creating database')
    journal.record({created: {database, user: username}})
    created = await createSiteDatabase(admin, plan, database, username, password)
    crashPoint('aegir:db-created')
    let load = dump
    if (plan.fromUri !== plan.toUri) {
      step('rewriting paths in the dump')
      load = join(stage, '.database.rewritten.sql')
      const stats = await rewriteDumpFile(
        dump,
        load,
        sitePathLineRewriter({fromUri: plan.fromUri, toUri: plan.toUri, engine: plan.site.engine}),
      )
      rewrittenValues = stats.changed
    }
    step('importing the database')
    // the staged copy is gone when the user reads a message: name it inside the backup
    const dumpName = `database.sql in ${plan.backupFile}${load === dump ? '' : ' (with its paths rewritten)'}`
    await loadDump(siteTarget(newDb), load, {onSpawn: plan.onSpawn, dumpName})
    crashPoint('aegir:db-loaded')
    await rm(dump, {force: true})
    await rm(join(stage, '.database.rewritten.sql'), {force: true})
    step('rewriting settings.php')
    await rewriteSiteFiles(stage, plan, newDb, warnings)
    if (plan.maintenance) {
      const session = sessionFor(dbClient(siteTarget(newDb)), plan.site.engine)
      try {
        await setMaintenance(session, plan.maintenance.major, plan.maintenance.value)
      } finally {
        await session.close()
      }
    }
    if (plan.owner) await chownTree(stage, plan.owner)
    await applyProvisionLayout(stage, plan.webGroup)
    const tables = await admin.tableCounts(database)
    if (Object.keys(tables).length === 0) throw new BkError(`the import into ${database} produced no tables`)
    await fsyncTree(stage)
    crashPoint('aegir:staged')
    committing = true
    journal.record({phase: 'committing', retire: plan.retire})
    crashPoint('aegir:committing')
    await commitParts([{stage, target}], {journal: journalPathFor(target)})
    committed = true
    journal.record({phase: 'committed'})
    crashPoint('aegir:committed')
    return {dir: target, database, username, tables, rewrittenValues, warnings}
  } catch (error) {
    // a commit that failed half-way is finished by the next run (its journal says how); anything earlier is undone
    if (!committed && !existsSync(journalPathFor(target))) {
      await rm(stage, {recursive: true, force: true})
      await dropCreated(admin, plan, created)
      journal.record({created: undefined, stage: undefined, target: undefined, phase: undefined, retire: undefined})
    }
    throw error
  } finally {
    unregister()
    await admin.close()
  }
}

function userOptions(plan: DeployPlan) {
  return plan.admin.engine === 'mysql' ? {host: plan.grantHost} : {}
}

async function createSiteDatabase(
  admin: DbClient,
  plan: DeployPlan,
  database: string,
  username: string,
  password: string,
): Promise<{database?: string; user?: string}> {
  const created: {database?: string; user?: string} = {}
  try {
    await admin.createUser(username, password, userOptions(plan))
    created.user = username
    if (plan.admin.engine === 'postgres') await admin.createDatabase(database, {owner: username, encoding: 'UTF8'})
    else await admin.createDatabase(database, {encoding: 'utf8mb4'})
    created.database = database
    await admin.grantAll(database, username, userOptions(plan))
    return created
  } catch (error) {
    await dropCreated(admin, plan, created)
    throw error
  }
}

async function dropCreated(admin: DbClient, plan: DeployPlan, created: {database?: string; user?: string}) {
  if (created.database) await admin.dropDatabase(created.database).catch(() => undefined)
  if (created.user) await admin.dropUser(created.user, userOptions(plan)).catch(() => undefined)
}

/** settings.php and drushrc.php in the stage: new credentials; new uri/platform paths when they change. */
async function rewriteSiteFiles(
  stageDir: string,
  plan: DeployPlan,
  db: {database: string; username: string; password: string; host: string; port?: number},
  warnings: string[],
): Promise<void> {
  const settingsFile = join(stageDir, 'settings.php')
  const drushrc = join(stageDir, 'drushrc.php')
  if (await pathExists(settingsFile)) {
    await rewriteInPlace(settingsFile, async (text) => {
      const from = {uri: plan.fromUri, platformRoot: platformRootInSettings(text)}
      const to = {uri: plan.toUri, platformRoot: plan.toPlatformRoot ?? from.platformRoot}
      const rewritten = rewriteSettingsCredentials(text, db)
      if (rewritten.changed === 0) {
        if (!usesServerCredentials(text) || !(await pathExists(drushrc))) {
          throw new BkError(
            'settings.php in the backup has no database credentials bk can rewrite; the site would not reach its new database',
          )
        }
        warnings.push(
          `settings.php of ${plan.toUri} reads its database credentials from the web server ($_SERVER, cloaked): drushrc.php now holds the new ones; regenerate the vhost (drush @${plan.toUri} provision-verify) before the site is served`,
        )
      }
      return rewriteSitePathsInText(rewritten.text, from, to)
    })
  }
  if (await pathExists(drushrc)) {
    await rewriteInPlace(drushrc, (text) => {
      let out = rewriteDrushrcCredentials(text, db).text
      if (plan.fromUri !== plan.toUri) out = rewriteDrushrcOption(out, 'uri', plan.toUri)
      return rewriteSitePathsInText(out, {uri: plan.fromUri}, {uri: plan.toUri})
    })
  }
  for (const name of ['local.settings.php', 'local.drushrc.php']) {
    const file = join(stageDir, name)
    if (plan.fromUri !== plan.toUri && (await pathExists(file))) {
      await rewriteInPlace(file, (text) => rewriteSitePathsInText(text, {uri: plan.fromUri}, {uri: plan.toUri}))
    }
  }
}

/** Rewrite a small text file atomically, keeping its mode (settings.php is 0440) and owner. */
async function rewriteInPlace(file: string, change: (text: string) => string | Promise<string>): Promise<void> {
  const info = await stat(file)
  const text = await readFile(file, 'utf8')
  const next = await change(text)
  if (next === text) return
  await atomicFile(
    file,
    async (tmp) => {
      await writeFile(tmp, next)
      if (process.getuid?.() === 0) await chown(tmp, info.uid, info.gid)
    },
    {mode: info.mode & 0o7777, overwrite: true},
  )
}
