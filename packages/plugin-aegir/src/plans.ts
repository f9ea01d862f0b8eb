import {stat} from 'node:fs/promises'
import {join} from 'node:path'
import {type DbTarget, dbClient} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {type PlanStep, step} from '@bkcli/core/workflow'
import {suggestDbName} from './db-names.js'
import type {SiteDatabase} from './drupal/credentials.js'
import {journalPathOf, readJournal} from './journal.js'
import {siteCatalog} from './naming.js'
import type {AegirSite} from './site.js'

const ENGINE: Record<string, string> = {mysql: 'MySQL/MariaDB', postgres: 'PostgreSQL'}

/** Read-only checks a backup of the site would make first (the same one-line errors). */
export async function checkBackupPreconditions(site: AegirSite, location: string): Promise<void> {
  const info = await stat(location).catch(() => undefined)
  if (info && !info.isDirectory()) throw new BkError(`backup location ${location} is not a folder`)
  const dump = join(site.dir, 'database.sql')
  if ((await pathExists(dump)) && readJournal(site.dir)?.dump !== dump) {
    throw new BkError(
      `${dump} already exists (not made by bk, or by a bk older than this one); move it away and run the backup again`,
    )
  }
}

/** The steps of a backup of the site into the location (`why`: what the backup is for). */
export async function backupSteps(site: AegirSite, location: string, why: string): Promise<PlanStep[]> {
  await checkBackupPreconditions(site, location)
  const file = await siteCatalog(location, site.uri).nextPath(new Date())
  return [
    ...(await pendingSteps(site)),
    ...((await pathExists(location)) ? [] : [step('create', location, 'backup location, mode 0700')]),
    step(
      'run',
      `${ENGINE[site.database.engine]} dump of ${site.database.database}`,
      'into the site folder, then removed',
    ),
    step('create', file, `${why}: site folder + database.sql, mode 0600`),
    step('create', `${file}.bk.json`, 'sidecar: description and checksum'),
  ]
}

/** A journal of a killed run: the plan says it will be undone first. */
export async function pendingSteps(site: Pick<AegirSite, 'dir'>): Promise<PlanStep[]> {
  const journal = readJournal(site.dir)
  if (!journal) return []
  return [
    step(
      'check',
      journalPathOf(site.dir),
      `'${journal.command}' (pid ${journal.pid}) was interrupted: undone or finished first`,
    ),
  ]
}

/** The name the new database would get, checked through the admin account (which must work). */
export async function plannedDbName(admin: DbTarget, uri: string, grantHost: string, given?: string): Promise<string> {
  const client = dbClient(admin)
  try {
    await client.serverVersion()
    const userOptions = admin.engine === 'mysql' ? {host: grantHost} : {}
    const taken = async (name: string) =>
      (await client.databaseExists(name)) || (await client.userExists(name, userOptions))
    if (given) {
      if (await taken(given))
        throw new BkError(`a database or user named ${given} already exists; choose another --db-name`)
      return given
    }
    return await suggestDbName(uri, taken)
  } finally {
    await client.close()
  }
}

/** Creating and loading the new database and its user. */
export function newDatabaseSteps(engine: string, name: string, grantHost: string, from: string): PlanStep[] {
  const user = engine === 'mysql' ? `${name}@${grantHost}` : name
  return [
    step('create', `database ${name}`, `${ENGINE[engine] ?? engine}, owned by the new user`),
    step('create', `user ${user}`, 'fresh password, all privileges on the new database'),
    step('load', `database ${name}`, `from database.sql of ${from}`),
  ]
}

/** Retiring the old database and user after the commit. */
export function retireSteps(old: SiteDatabase): PlanStep[] {
  return [
    step('drop', `database ${old.database}`, 'the old database, after the new site is in place'),
    ...(old.username ? [step('drop', `user ${old.username}`, 'unless it still has privileges elsewhere')] : []),
  ]
}

/** The settings files a deploy rewrites (those the site has). */
export async function settingsSteps(dir: string, what: string): Promise<PlanStep[]> {
  const out: PlanStep[] = []
  for (const name of ['settings.php', 'drushrc.php']) {
    out.push(step('write', join(dir, name), what))
  }
  return out
}
