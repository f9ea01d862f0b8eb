// What `bk trac follow` follows and `bk trac restore <follow-location>` writes: the environment's SQLite
// database and its attachments folder. The engine is core's (SqliteFollower, SqliteFollowRestore).
import {join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import type {FollowedFolder, SqliteFollowTarget} from '@bkcli/core/follow'
import {TracEnvironment} from './environment.js'

/** The name of the attachments folder in a follow location. */
export const ATTACHMENTS = 'attachments'

/** The environment's SQLite database and attachments folder (a server database cannot be followed). */
export async function tracFollowTarget(envDir: string): Promise<SqliteFollowTarget> {
  const env = await TracEnvironment.open(envDir)
  const db = env.sqlitePath
  if (!db) {
    throw new BkError(
      `${envDir} uses a ${env.database.engine} database; follow works on SQLite only (use bk trac backup)`,
    )
  }
  return {app: 'trac', db, folders: [{name: ATTACHMENTS, dir: join(env.path, 'files', 'attachments')}]}
}

/**
 * Where a restore from a follow location writes: the database of the environment's trac.ini when it is one,
 * else <env>/db/trac.db; the attachments in <env>/files/attachments.
 */
export async function tracFollowRestoreTarget(envDir: string): Promise<{db: string; folders: FollowedFolder[]}> {
  const env = await TracEnvironment.open(envDir).catch(() => undefined)
  const path = env?.path ?? resolve(envDir)
  const db = env ? env.sqlitePath : join(path, 'db', 'trac.db')
  if (!db) throw new BkError(`${envDir} uses a ${env!.database.engine} database; a follow location holds an SQLite one`)
  return {db, folders: [{name: ATTACHMENTS, dir: join(path, 'files', 'attachments')}]}
}
