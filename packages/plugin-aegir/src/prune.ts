import {
  type CatalogEntry,
  hasRetention,
  planRetention,
  prune,
  type RetentionPlan,
  type RetentionPolicy,
} from '@bkcli/core/catalog'
import {BkError} from '@bkcli/core/errors'
import {siteCatalog} from './naming.js'

/** hosting_backup_gc's rule: "for backups older than N, keep one per M". */
export interface KeepPerRule {
  text: string
  olderThanMs: number
  perMs: number
}

const UNIT_MS: Record<string, number> = {h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000}

/** `7d:1d` → for backups older than 7 days keep one per day (units h d w y). */
export function parseKeepPer(text: string): KeepPerRule {
  const m = /^(\d+)([hdwy]):(\d+)([hdwy])$/.exec(text.trim())
  if (!m) throw new BkError(`--keep-per '${text}' is not <age>:<interval> with units h, d, w or y (e.g. 7d:1d)`)
  const perMs = Number(m[3]) * UNIT_MS[m[4]!]!
  if (perMs <= 0) throw new BkError(`--keep-per '${text}': the interval must be more than zero`)
  return {text, olderThanMs: Number(m[1]) * UNIT_MS[m[2]!]!, perMs}
}

/**
 * What to remove: core's retention flags (when given) decide first; then each keep-per rule, walking the
 * backups newest first, puts every backup older than its age into the bucket floor((now - date) / interval),
 * and a second backup landing in a taken bucket is removed (hosting_backup_gc_compute_backups_to_remove).
 * The newest backup is always kept.
 */
export function planAegirPrune<E extends {name: string; date: Date}>(
  entries: readonly E[],
  policy: RetentionPolicy,
  rules: KeepPerRule[],
  now: Date = new Date(),
): RetentionPlan<E> {
  if (!hasRetention(policy) && rules.length === 0) {
    throw new BkError(
      'give a retention rule: --keep, --keep-days, --keep-daily/-weekly/-monthly or --keep-per <age>:<interval>',
    )
  }
  const sorted = [...entries].sort((a, b) => b.date.getTime() - a.date.getTime())
  const base = hasRetention(policy) ? planRetention(sorted, policy, now) : undefined
  const reasons = new Map<string, string>(base?.reasons ?? sorted.map((e) => [e.name, 'no rule removes it'] as const))
  const removed = new Map<string, string>()
  for (const e of base?.remove ?? []) removed.set(e.name, 'retention flags')
  for (const rule of rules) {
    const taken = new Set<number>()
    for (const e of sorted) {
      const age = now.getTime() - e.date.getTime()
      if (age <= rule.olderThanMs) continue
      const bucket = Math.floor(age / rule.perMs)
      if (taken.has(bucket)) {
        if (!removed.has(e.name)) removed.set(e.name, `--keep-per ${rule.text}`)
      } else taken.add(bucket)
    }
  }
  if (sorted[0]) removed.delete(sorted[0].name)
  return {
    keep: sorted.filter((e) => !removed.has(e.name)),
    remove: sorted.filter((e) => removed.has(e.name)),
    reasons: new Map([...reasons, ...[...removed].map(([n, why]) => [n, `removed by ${why}`] as const)]),
  }
}

export interface PruneResult {
  location: string
  uri: string
  dryRun: boolean
  kept: {name: string; reason: string}[]
  removed: {name: string; reason: string}[]
  paths: string[]
}

/** Prunes a site's backups (tarballs and their sidecars) in a location. */
export async function pruneSiteBackups(
  location: string,
  uri: string,
  policy: RetentionPolicy,
  rules: KeepPerRule[],
  options: {dryRun?: boolean; now?: Date} = {},
): Promise<PruneResult> {
  const entries = (await siteCatalog(location, uri).list()).filter((e: CatalogEntry) => e.type === 'file')
  const plan = planAegirPrune(entries, policy, rules, options.now)
  const paths = await prune(plan, {dryRun: options.dryRun})
  const why = (name: string) => plan.reasons.get(name) ?? ''
  return {
    location,
    uri,
    dryRun: Boolean(options.dryRun),
    kept: plan.keep.map((e) => ({name: e.name, reason: why(e.name)})),
    removed: plan.remove.map((e) => ({name: e.name, reason: why(e.name)})),
    paths,
  }
}
