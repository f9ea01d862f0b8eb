import type {Command} from '@bkcli/core/oclif'
import {retentionFlags, retentionFromFlags} from '../catalog/flags.js'
import type {RetentionPolicy} from '../catalog/retention.js'
import type {Artifact, ArtifactStore} from '../workflow/artifacts.js'
import {decidePrune, type PruneDecision, pruneOutcome, pruneSteps, removeArtifacts} from '../workflow/prune.js'
import {BkCommand} from './base.js'
import {dryRunFlag} from './flags.js'

/**
 * `bk <app> prune`: retention rules applied to a location, the same in every plugin — the plan (what goes, with
 * sizes), --dry-run, one confirmation, the location locked, removal newest-kept-first, one result shape.
 * A plugin says where its location is (`store()`) and may add rules of its own (`decide()`).
 */
export abstract class PruneCommand<T extends typeof Command> extends BkCommand<T> {
  static override resultKind = 'prune' as const
  /** Spread into a plugin's `static flags`. */
  static pruneFlags = {...dryRunFlag, ...retentionFlags}

  protected abstract store(): Promise<ArtifactStore>

  /** The rules of the retention flags; a plugin with rules of its own overrides decide() instead. */
  protected policy(): RetentionPolicy {
    return retentionFromFlags(this.flags as Parameters<typeof retentionFromFlags>[0])
  }

  protected decide(artifacts: Artifact[], store: ArtifactStore): PruneDecision {
    return decidePrune(artifacts, {clock: store.clock, ...this.policy()})
  }

  async run() {
    const store = await this.store()
    let decision: PruneDecision | undefined
    return this.execute(
      {
        kind: 'prune',
        plan: async () => {
          decision = this.decide(await store.list(), store)
          return {summary: `prune ${store.location}`, steps: pruneSteps(decision)}
        },
        confirm: (plan) =>
          plan.steps.length === 0
            ? undefined
            : {
                question: `Remove ${plan.steps.length} backup(s) from ${store.location}?`,
                action: `prune ${store.location}`,
              },
        locks: [store.location],
        act: async () => {
          const chosen = decision as PruneDecision
          await removeArtifacts(chosen.remove)
          return pruneOutcome(store.location, chosen)
        },
      },
      (r) => [
        ...r.removed.map((a) => `Removed ${a.path}`),
        `${r.removed.length} removed, ${r.kept.length} kept in ${r.location}.`,
      ],
    )
  }
}
