/**
 * `bk roundup move <home> <new-home>`: the admin guide's "Moving a Tracker", made safe. The new home gets its
 * own database — sqlite: its own db/ (a relative [main] database, even if the old one was absolute);
 * PostgreSQL/MySQL: a new database named by --url — never the source's. Data is copied natively and verified
 * by exporting both trackers (the migrate-backend machinery on the same backend). The source is left as it is.
 */
import {resolve} from 'node:path'
import {parseDbUrl} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {type MigrateOptions, type MigrateResult, migrateBackend, migratePlan} from './migrate.js'
import {openTracker} from './tracker.js'

export interface MoveOptions {
  url?: string
  passwordFile?: string
  onStep?: (step: string) => void
}

/** The migrate-backend options of a move, checked as the real run checks them (reads only). */
export async function moveOptions(
  homeArg: string,
  newHomeArg: string,
  options: MoveOptions = {},
): Promise<MigrateOptions> {
  const source = await openTracker(homeArg)
  const newHome = resolve(newHomeArg)
  if (newHome === source.home) throw new BkError('the new home is the tracker home itself')
  if (source.backend !== 'sqlite') {
    if (!options.url) {
      throw new BkError(
        `the new home's config.ini would point at the source database ${source.rdbms.name}; give --url for a new ${source.backend} database`,
      )
    }
    const t = parseDbUrl(options.url)
    const sameServer =
      (t.host ?? 'localhost') === source.rdbms.host && (t.port ?? 0) === (source.rdbms.port ?? t.port ?? 0)
    if (sameServer && t.database === source.rdbms.name) {
      throw new BkError(
        `--url names the source database ${source.rdbms.name}; the new home needs a database of its own`,
      )
    }
  } else if (options.url) {
    throw new BkError('a sqlite tracker moves with its database file: leave out --url (or use migrate-backend)')
  }
  return {
    to: source.backend,
    url: options.url,
    passwordFile: options.passwordFile,
    noSwap: true,
    newHome,
    sameBackend: true,
    onStep: options.onStep,
  }
}

export async function movePlan(homeArg: string, newHomeArg: string, options: MoveOptions = {}) {
  return migratePlan(homeArg, await moveOptions(homeArg, newHomeArg, options))
}

export async function moveTracker(
  homeArg: string,
  newHomeArg: string,
  options: MoveOptions = {},
): Promise<MigrateResult> {
  return migrateBackend(homeArg, await moveOptions(homeArg, newHomeArg, options))
}
