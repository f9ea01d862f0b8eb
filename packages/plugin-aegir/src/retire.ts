import {type DbTarget, dbClient} from '@bkcli/core/db'
import {messageOf} from '@bkcli/core/errors'
import type {SiteDatabase} from './drupal/credentials.js'

/**
 * After a successful restore or migrate: drop the site's old database, then its old user when that user has no
 * privileges left on any other database (as provision's destroy_site_database revokes, then drops the user only
 * when no grants remain). Failures here do not undo the restore: they come back as warnings.
 */
export async function retireDatabase(
  adminTarget: DbTarget,
  old: SiteDatabase,
  grantHost: string,
): Promise<{dropped: boolean; userDropped: boolean; warnings: string[]}> {
  const admin = dbClient(adminTarget)
  const warnings: string[] = []
  let dropped = false
  let userDropped = false
  try {
    try {
      await admin.dropDatabase(old.database)
      dropped = true
    } catch (error) {
      warnings.push(`could not drop the old database ${old.database}: ${messageOf(error)}`)
    }
    if (old.username && old.username !== adminTarget.user) {
      try {
        if (adminTarget.engine === 'mysql') {
          const others = await admin.query<{Db: string}>(
            'SELECT Db FROM mysql.db WHERE User = ? AND Db NOT IN (?, ?)',
            [old.username, old.database, old.database.replace(/([_%\\])/g, '\\$1')],
          )
          if (others.length > 0) {
            warnings.push(`kept the old database user ${old.username}: it still has privileges on ${others[0]?.Db}`)
          } else {
            const hosts = await admin.query<{Host: string}>('SELECT Host FROM mysql.user WHERE User = ?', [
              old.username,
            ])
            for (const {Host} of hosts.length ? hosts : [{Host: grantHost}])
              await admin.dropUser(old.username, {host: Host})
            userDropped = true
          }
        } else {
          await admin.dropUser(old.username)
          userDropped = true
        }
      } catch (error) {
        warnings.push(`could not drop the old database user ${old.username}: ${messageOf(error)}`)
      }
    }
  } finally {
    await admin.close()
  }
  return {dropped, userDropped, warnings}
}
