import {existsSync} from 'node:fs'
import {readdir, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {SIDECAR_SUFFIX} from '@bkcli/core/catalog'
import {type DbTarget, dbClient} from '@bkcli/core/db'
import {BkError, messageOf} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {pidAlive} from '@bkcli/core/safety'
import {journalPathFor, recoverCommit} from '@bkcli/core/workflow'
import {adminTarget} from './admin.js'
import type {SiteDatabase} from './drupal/credentials.js'
import {setMaintenance} from './drupal/maintenance.js'
import {type JournalState, journalPathOf, readJournal} from './journal.js'
import {retireDatabase} from './retire.js'
import {sessionFor} from './session.js'
import {type AegirSite, openSite, takeSettled} from './site.js'
import {siteTarget} from './target.js'

export interface RecoverOptions {
  /** The command's admin account (restore, clone, migrate); others use the journal's URL, password from env/bk.yml. */
  admin?: DbTarget
  /** bk.yml's db-admin-password. */
  configPassword?: string
  /** The backup location: partial tarballs and orphan sidecars of this site's dead runs are removed there. */
  location?: string
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Before anything else on a site (under its lock): undo or finish what a killed bk aegir run left. Not committed:
 * the stage is removed, the database and user it created are dropped, maintenance mode gets its previous value
 * back, a dump it left in the site folder goes. Committed: the old database/user (and, for migrate, the old
 * folder) are retired. Then stale stages, partial tarballs and orphan sidecars of dead runs are swept.
 * Returns one line per thing done.
 */
/** What recovery needs of a site: its folder and uri; its database when it exists (a deploy's target has none yet). */
export type RecoverableSite = Pick<AegirSite, 'dir' | 'uri'> & {database?: SiteDatabase}

export async function recoverSite(site: RecoverableSite, options: RecoverOptions = {}): Promise<string[]> {
  const lines: string[] = takeSettled(site.dir)
  const journal = readJournal(site.dir)
  if (journal) lines.push(...(await undoJournal(site, journal, options)))
  if (journal?.retire?.folder === site.dir && !(await pathExists(site.dir))) {
    throw new BkError(`${lines.join('; ')}; ${site.uri} now lives at ${journal.target}: run the command on it there`, {
      code: 'ERECOVERED',
    })
  }
  if (lines.length > 0 && (await pathExists(site.dir))) {
    // a finished swap put the new site in place: the command goes on with its settings, not those read before
    const fresh = await openSite(site.dir).catch(() => undefined)
    if (fresh && site.database && fresh.database.database !== site.database.database) {
      Object.assign(site, fresh)
      lines.push(`${site.uri} now uses the database ${site.database.database}`)
    }
  }
  lines.push(...(await sweepStages(site.dir)))
  if (options.location) lines.push(...(await sweepLocation(options.location, site.uri)))
  return lines
}

async function undoJournal(site: RecoverableSite, journal: JournalState, options: RecoverOptions): Promise<string[]> {
  const lines: string[] = []
  const what = `'${journal.command}' (pid ${journal.pid}, since ${journal.started})`
  if (journal.target) lines.push(...(await recoverCommit(journalPathFor(journal.target))))
  const committed =
    journal.phase === 'committed' ||
    (journal.phase === 'committing' && journal.stage !== undefined && !existsSync(journal.stage))
  const admin = async () =>
    options.admin ??
    (await adminTarget({url: journal.admin?.url, configPassword: options.configPassword, env: process.env}))
  const grantHost = journal.admin?.grantHost ?? '%'
  if (committed) {
    const done: string[] = []
    if (journal.retire) {
      const retired = await retireDatabase(
        await admin(),
        {database: journal.retire.database, username: journal.retire.user} as SiteDatabase,
        grantHost,
      )
      done.push(`old database ${journal.retire.database} ${retired.dropped ? 'dropped' : 'kept'}`)
      lines.push(...retired.warnings.filter((w) => !/Unknown database|does not exist/i.test(w)))
      if (journal.retire.folder && (await pathExists(journal.retire.folder))) {
        await rm(journal.retire.folder, {recursive: true, force: true})
        done.push(`old folder ${journal.retire.folder} removed`)
      }
    }
    lines.push(`finished ${what}, interrupted after its commit: ${done.join(', ') || 'nothing left to do'}`)
  } else {
    const done: string[] = []
    if (journal.stage && (await pathExists(journal.stage))) {
      await rm(journal.stage, {recursive: true, force: true})
      done.push(`removed its stage ${journal.stage}`)
    }
    if (journal.created) {
      const target = await admin()
      const client = dbClient(target)
      const userOptions = target.engine === 'mysql' ? {host: grantHost} : {}
      try {
        if (await client.databaseExists(journal.created.database)) await client.dropDatabase(journal.created.database)
        if (await client.userExists(journal.created.user, userOptions))
          await client.dropUser(journal.created.user, userOptions)
      } finally {
        await client.close()
      }
      done.push(`dropped the database ${journal.created.database} and user ${journal.created.user} it created`)
    }
    if (journal.maintenance) {
      const m = journal.maintenance
      if (site.database?.database !== m.database) {
        lines.push(
          `maintenance mode of ${m.database} was switched on by ${what}; the site now uses ${site.database?.database ?? 'no database'}: check it by hand`,
        )
      } else {
        const session = sessionFor(dbClient(siteTarget(site.database)), site.database.engine)
        try {
          await setMaintenance(session, m.major, m.previous ?? undefined)
        } finally {
          await session.close()
        }
        done.push(`maintenance mode of ${m.database} set back to ${m.previous ?? 'unset'}`)
      }
    }
    if (journal.dump && (await pathExists(journal.dump))) {
      await rm(journal.dump, {force: true})
      done.push(`removed the dump ${journal.dump} it left`)
    }
    lines.push(`rolled back ${what}: ${done.join('; ') || 'nothing had changed'}`)
  }
  await rm(journalPathOf(site.dir), {force: true})
  return lines
}

/** `.<uri>.bk-stage-<pid>` / `.<uri>.bk-restore-<pid>` beside the site, of processes that are gone. */
async function sweepStages(siteDir: string): Promise<string[]> {
  const dir = dirname(siteDir)
  const pattern = new RegExp(`^\\.${escapeRe(basename(siteDir))}\\.bk-(?:stage|restore)-(\\d+)$`)
  return sweep(dir, (name) => {
    const pid = pattern.exec(name)?.[1]
    return pid !== undefined && deadPid(Number(pid))
  })
}

/** Partial tarballs of dead runs and sidecars whose tarball never appeared, for one site's backups. */
export async function sweepLocation(location: string, uri: string): Promise<string[]> {
  const partial = new RegExp(`^\\.+${escapeRe(uri)}-\\d{8}\\.\\d{6}.*\\.bk-partial-(\\d+)`)
  const sidecar = new RegExp(
    `^${escapeRe(uri)}-\\d{8}\\.\\d{6}(?:_\\d+)?\\.(?:tar\\.gz|tgz|tar\\.bz2|tar)\\.bk\\.json$`,
  )
  return sweep(location, (name, present) => {
    const pid = partial.exec(name)?.[1]
    if (pid !== undefined) return deadPid(Number(pid))
    if (!sidecar.test(name)) return false
    const tarball = name.slice(0, -SIDECAR_SUFFIX.length)
    if (present.has(tarball)) return false
    // A running backup writes its sidecar before it publishes the tarball: while its partial's pid lives, the
    // sidecar is its, not a leftover (backup-delete and prune lock the location, not the site a backup locks).
    const running = `.${tarball}.bk-partial-`
    return ![...present].some(
      (n) => n.startsWith(running) && !deadPid(Number(/^(\d+)/.exec(n.slice(running.length))?.[1])),
    )
  })
}

async function sweep(dir: string, stale: (name: string, present: Set<string>) => boolean): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  const present = new Set(names)
  const lines: string[] = []
  for (const name of names.sort()) {
    if (!stale(name, present)) continue
    try {
      await rm(join(dir, name), {recursive: true, force: true})
      lines.push(`removed ${join(dir, name)}, left by an interrupted run`)
    } catch (error) {
      lines.push(`could not remove ${join(dir, name)}: ${messageOf(error)}`)
    }
  }
  return lines
}

function deadPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)
}
