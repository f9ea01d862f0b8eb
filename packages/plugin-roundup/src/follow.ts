// What `bk roundup follow` follows and `bk roundup restore <follow-location>` writes: the tracker's SQLite
// database (<db>/db) and its files folder (<db>/files: file and msg contents). The engine is core's.
import {join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import type {FollowedFolder, SqliteFollowTarget} from '@bkcli/core/follow'
import {openTracker} from './tracker.js'

/** The name of the files folder in a follow location. */
export const FILES = 'files'

export async function roundupFollowTarget(home: string): Promise<SqliteFollowTarget> {
  const tracker = await openTracker(home)
  if (tracker.backend !== 'sqlite') {
    throw new BkError(
      `${home} uses the ${tracker.backend} backend; follow works on SQLite only (use bk roundup backup)`,
    )
  }
  return {app: 'roundup', db: join(tracker.dbDir, 'db'), folders: [{name: FILES, dir: join(tracker.dbDir, 'files')}]}
}

/** Where a restore from a follow location writes: the tracker's <db>/db and <db>/files (db/ when no tracker yet). */
export async function roundupFollowRestoreTarget(home: string): Promise<{db: string; folders: FollowedFolder[]}> {
  const tracker = await openTracker(home).catch(() => undefined)
  if (tracker && tracker.backend !== 'sqlite') {
    throw new BkError(`${home} uses the ${tracker.backend} backend; a follow location holds an SQLite database`)
  }
  const dbDir = tracker?.dbDir ?? join(resolve(home), 'db')
  return {db: join(dbDir, 'db'), folders: [{name: FILES, dir: join(dbDir, 'files')}]}
}
