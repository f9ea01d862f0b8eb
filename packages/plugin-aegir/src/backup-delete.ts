import {realpath} from 'node:fs/promises'
import {basename, dirname, isAbsolute, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import type {Artifact, PruneDecision} from '@bkcli/core/workflow'
import {backupUri} from './restore.js'
import {siteStore} from './store.js'

/**
 * provision-backup-delete's choice: each named backup (`file[,file…]`, a name in the location or a path into it)
 * as the location's artifact (tarball + sidecar). A path outside the location, a name that is not a site backup or
 * a backup that is not there is refused before anything is removed. The site's other backups are kept.
 */
export async function chooseBackups(location: string, names: string[]): Promise<PruneDecision> {
  const home = await realpath(location).catch(() => {
    throw new BkError(`backup location ${location} does not exist; give --location`)
  })
  const remove: Artifact[] = []
  const uris = new Set<string>()
  for (const name of names.flatMap((n) => n.split(',')).filter(Boolean)) {
    const path = isAbsolute(name) || name.includes('/') ? resolve(name) : join(location, name)
    const folder = await realpath(dirname(path)).catch(() => undefined)
    if (folder !== home) {
      throw new BkError(
        `${name} is not in the backup location ${location}; bk aegir backup-delete removes only backups there`,
      )
    }
    const uri = await backupUri(path)
    if (!uri) throw new BkError(`${name} is not a site backup (<uri>-YYYYmmdd.HHMMSS.tar.gz); nothing was removed`)
    const artifact = (await siteStore(location, uri).list()).find((a) => basename(a.path) === basename(path))
    if (!artifact) throw new BkError(`no backup ${basename(path)} in ${location}; see bk aegir list ${uri}`)
    if (!remove.some((a) => a.path === artifact.path)) remove.push(artifact)
    uris.add(uri)
  }
  if (remove.length === 0) throw new BkError('name the backup to delete')
  const keep: PruneDecision['keep'] = []
  for (const uri of uris) {
    for (const artifact of await siteStore(location, uri).list()) {
      if (!remove.some((a) => a.path === artifact.path)) keep.push({artifact, reason: 'not named'})
    }
  }
  return {remove, keep}
}
