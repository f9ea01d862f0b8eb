import {rm} from 'node:fs/promises'
import {planRetention, type RetentionPolicy} from '../catalog/retention.js'
import {BkError, messageOf} from '../errors.js'
import {pathExists} from '../fs/paths.js'
import {type Artifact, type ArtifactRow, type ArtifactStore, artifactRow, newestFirst} from './artifacts.js'
import {type Plan, step} from './plan.js'

/** What prune decided, per artifact. */
export interface PruneDecision {
  remove: Artifact[]
  keep: {artifact: Artifact; reason: string}[]
}

/** A list row of a prune result, with whether it was kept or removed and why. */
export interface PruneRow extends ArtifactRow {
  reason?: string
}

/** The result of `prune` (and the `pruned` part of a backup with retention flags). */
export interface PruneOutcome {
  location: string
  removed: PruneRow[]
  kept: PruneRow[]
}

/**
 * Decide what to remove: retention applies to each group on its own (an env's backups never decide another
 * env's), the newest of each group is always kept, pinned artifacts are never removed. `upcoming` counts a
 * backup about to be made (so that a dry run shows what the real run would prune).
 */
export function decidePrune(
  artifacts: Artifact[],
  policy: RetentionPolicy,
  options: {upcoming?: Artifact; now?: Date} = {},
): PruneDecision {
  const groups = new Map<string, Artifact[]>()
  const all = options.upcoming ? [...artifacts, options.upcoming] : artifacts
  for (const a of all) {
    if (a.pinned) continue
    const key = a.group ?? ''
    groups.set(key, [...(groups.get(key) ?? []), a])
  }
  const decision: PruneDecision = {remove: [], keep: []}
  for (const members of groups.values()) {
    // Unique names for the retention planner, which keys its reasons by name; newest first so that backups of
    // one second are ranked by their collision number, not by the order the folder listed them in.
    const plan = planRetention(
      newestFirst(members).map((a) => ({name: a.path, date: a.date, artifact: a})),
      policy,
      options.now,
    )
    for (const e of plan.remove) decision.remove.push(e.artifact)
    for (const e of plan.keep) decision.keep.push({artifact: e.artifact, reason: plan.reasons.get(e.name) ?? 'kept'})
  }
  for (const a of artifacts) if (a.pinned) decision.keep.push({artifact: a, reason: 'pinned'})
  decision.remove = newestFirst(decision.remove.filter((a) => a !== options.upcoming))
  decision.keep = decision.keep.filter((k) => k.artifact !== options.upcoming)
  return decision
}

/** The plan steps of a decision: one `remove` per artifact, with its size. */
export function pruneSteps(decision: PruneDecision): Plan['steps'] {
  return decision.remove.map((a) => step('remove', a.path, `${a.kind}, ${a.date.toISOString().slice(0, 16)}Z`, a.bytes))
}

/** The result of a prune decision on a location, as `prune` reports it. */
export function pruneOutcome(location: string, decision: PruneDecision): PruneOutcome {
  return {
    location,
    removed: decision.remove.map(artifactRow),
    kept: newestFirst(decision.keep.map((k) => ({...k.artifact, reason: k.reason}))).map((k) => ({
      ...artifactRow(k),
      reason: k.reason,
    })),
  }
}

/**
 * Remove the decided artifacts, each with every path that goes with it, oldest last so that a failure leaves
 * the newest backups in place. Stops at the first path it cannot remove (one-line BkError naming it).
 */
export async function removeArtifacts(artifacts: Artifact[]): Promise<void> {
  for (const a of artifacts) {
    for (const path of [a.path, ...(a.paths ?? [])]) {
      try {
        if (await pathExists(path)) await rm(path, {recursive: true, force: true})
      } catch (error) {
        throw new BkError(`cannot remove ${path}: ${messageOf(error)}; older backups were not pruned`, {cause: error})
      }
    }
  }
}

/** List, decide and (unless dryRun) remove: the whole of `prune`, also run after a backup with retention flags. */
export async function pruneStore(
  store: ArtifactStore,
  policy: RetentionPolicy,
  options: {dryRun?: boolean; upcoming?: Artifact} = {},
): Promise<PruneOutcome> {
  const decision = decidePrune(await store.list(), {clock: store.clock, ...policy}, {upcoming: options.upcoming})
  if (!options.dryRun) await removeArtifacts(decision.remove)
  return pruneOutcome(store.location, decision)
}
