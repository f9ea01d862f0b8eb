import {BkError, Catalog, hasRetention, planRetention, prune, type RetentionPolicy} from '@bkcli/core'
import {DATED_NAMING} from './naming.js'
import {stackPaths} from './stack.js'

/**
 * `bk iotstack prune`: retention for the dated archives (IOTstack keeps them forever). Rolling archives
 * already keep seven, and restore's safety copies are the user's to remove. Sidecars go with their archives.
 */
export interface PruneResult {
  keep: {name: string; reason: string}[]
  removed: string[]
  dryRun: boolean
}

export interface PrunePlan {
  keep: {name: string; reason: string}[]
  remove: string[]
}

export async function planStackPrune(
  stackDir: string,
  policy: RetentionPolicy,
  options: {location?: string; now?: Date} = {},
) {
  if (!hasRetention(policy))
    throw new BkError('say what to keep: --keep <n>, --keep-days <n>, --keep-daily/--keep-weekly/--keep-monthly <n>')
  const paths = stackPaths(stackDir, options.location)
  const plan = planRetention(
    await new Catalog(paths.dated, DATED_NAMING, {manifests: false}).list(),
    policy,
    options.now,
  )
  return {
    plan,
    summary: {
      keep: plan.keep.map((e) => ({name: e.name, reason: plan.reasons.get(e.name) ?? ''})),
      remove: plan.remove.map((e) => e.path),
    },
  }
}

export async function pruneStack(
  stackDir: string,
  policy: RetentionPolicy,
  options: {location?: string; now?: Date; dryRun?: boolean; confirm?: (plan: PrunePlan) => Promise<void>} = {},
): Promise<PruneResult> {
  const {plan, summary} = await planStackPrune(stackDir, policy, options)
  if (!options.dryRun && summary.remove.length > 0) await options.confirm?.(summary)
  const removed = await prune(plan, {dryRun: options.dryRun})
  return {keep: summary.keep, removed, dryRun: Boolean(options.dryRun)}
}
