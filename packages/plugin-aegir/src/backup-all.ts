import {BkError, messageOf} from '@bkcli/core'
import {type BackupOptions, type BackupResult, backupSite} from './backup.js'
import {discoverSites, type OpenSiteOptions, openSite} from './site.js'

export interface BulkOutcome {
  site: string
  ok: boolean
  result?: BackupResult
  error?: string
}

export interface BulkResult {
  root: string
  sites: BulkOutcome[]
  succeeded: number
  failed: number
}

/**
 * `backup --all`: every site of a platform (or of every platform under an Aegir root), one after another; a
 * failing site is recorded and the run goes on (the cron bulk-backup script Aegir users wrote).
 */
export async function backupAll(
  root: string,
  options: BackupOptions & {open?: OpenSiteOptions; onSite?: (site: string, outcome: BulkOutcome) => void},
): Promise<BulkResult> {
  const dirs = await discoverSites(root)
  if (dirs.length === 0) throw new BkError(`no Drupal site found under ${root} (sites/*/settings.php)`)
  const sites: BulkOutcome[] = []
  for (const dir of dirs) {
    let outcome: BulkOutcome
    try {
      const site = await openSite(dir, options.open)
      outcome = {site: dir, ok: true, result: await backupSite(site, options)}
    } catch (error) {
      outcome = {site: dir, ok: false, error: messageOf(error).split('\n')[0]}
    }
    sites.push(outcome)
    options.onSite?.(dir, outcome)
  }
  const failed = sites.filter((s) => !s.ok).length
  return {root, sites, succeeded: sites.length - failed, failed}
}
