import {rm} from 'node:fs/promises'
import {BkError, messageOf} from '../errors.js'
import {SIDECAR_SUFFIX} from './catalog.js'
import type {RetentionPlan} from './retention.js'

export interface PruneOptions {
  dryRun?: boolean
  /** Called before each entry is removed (progress, logging). */
  onRemove?: (path: string) => void
}

type Prunable = {name: string; date: Date; path: string; sidecar?: string; extraPaths?: string[]}

/**
 * Remove the plan's `remove` entries: files or whole directories, with their sidecars and extra paths.
 * Returns the paths removed (with dryRun: the paths that would be), newest entry first.
 */
export async function prune<E extends Prunable>(plan: RetentionPlan<E>, options: PruneOptions = {}): Promise<string[]> {
  const removed: string[] = []
  for (const entry of plan.remove) {
    const paths = [entry.path, entry.sidecar ?? entry.path + SIDECAR_SUFFIX, ...(entry.extraPaths ?? [])]
    for (const path of paths) {
      if (!options.dryRun) {
        options.onRemove?.(path)
        try {
          await rm(path, {recursive: true})
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue // a sidecar that never existed
          throw new BkError(`cannot remove ${path}: ${messageOf(error)}; older backups were not pruned`, {cause: error})
        }
        removed.push(path)
      } else if (path === entry.path || entry.sidecar === path || entry.extraPaths?.includes(path)) {
        removed.push(path)
      }
    }
  }
  return removed
}
