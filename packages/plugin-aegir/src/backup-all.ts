import {messageOf} from '@bkcli/core/errors'
import {type BackupOptions, type BackupResult, backupSite} from './backup.js'
import {type AegirSite, discoverSites, type OpenSiteOptions, openSite} from './site.js'

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
  /** The tarballs made (core's backup result). */
  artifacts: {path: string; bytes: number; kind: string}[]
}

/** The sites under a platform or Aegir root, opened (read only); a site that cannot be opened is a failure. */
export interface BulkPlan {
  root: string
  sites: AegirSite[]
  failed: BulkOutcome[]
}

export async function planAll(root: string, open?: OpenSiteOptions): Promise<BulkPlan> {
  const dirs = await discoverSites(root)
  const sites: AegirSite[] = []
  const failed: BulkOutcome[] = []
  for (const dir of dirs) {
    try {
      sites.push(await openSite(dir, open))
    } catch (error) {
      failed.push({site: dir, ok: false, error: messageOf(error).split('\n')[0]})
    }
  }
  return {root, sites, failed}
}

/**
 * `backup --all`: every site of a platform (or of every platform under an Aegir root), one after another; a
 * failing site is recorded and the run goes on (the cron bulk-backup script Aegir users wrote).
 */
export async function backupAllSites(
  plan: BulkPlan,
  options: BackupOptions & {onSite?: (site: string, outcome: BulkOutcome) => void},
): Promise<BulkResult> {
  const outcomes = new Map<string, BulkOutcome>()
  for (const f of plan.failed) {
    outcomes.set(f.site, f)
    options.onSite?.(f.site, f)
  }
  for (const site of plan.sites) {
    let outcome: BulkOutcome
    try {
      outcome = {site: site.dir, ok: true, result: await backupSite(site, options)}
    } catch (error) {
      outcome = {site: site.dir, ok: false, error: messageOf(error).split('\n')[0]}
    }
    outcomes.set(site.dir, outcome)
    options.onSite?.(site.dir, outcome)
  }
  const sites = [...outcomes.values()].sort((a, b) => a.site.localeCompare(b.site))
  const failed = sites.filter((s) => !s.ok).length
  const artifacts = sites.flatMap((s) => s.result?.artifacts ?? [])
  return {root: plan.root, sites, succeeded: sites.length - failed, failed, artifacts}
}

/** `backup --all` outside a command: every site opened, each locked and backed up in turn. */
export async function backupAll(
  root: string,
  options: BackupOptions & {open?: OpenSiteOptions; onSite?: (site: string, outcome: BulkOutcome) => void},
): Promise<BulkResult> {
  return backupAllSites(await planAll(root, options.open), {...options, locked: false})
}
