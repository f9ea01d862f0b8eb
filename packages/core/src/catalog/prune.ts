import {rm} from 'node:fs/promises'
import {BkError, messageOf} from '../errors.js'
import {pathExists} from '../fs/paths.js'
import {SIDECAR_SUFFIX} from './catalog.js'
import type {RetentionPlan} from './retention.js'

/** Whether a prune only reports, and a callback for each removal. */
export interface PruneOptions {
  dryRun?: boolean
  /** Called before each path is removed (progress, logging). */
  onRemove?: (path: string) => void
}

type Prunable = {name: string; date: Date; path: string; sidecar?: string; extraPaths?: string[]}

/**
 * Remove the plan's `remove` entries: files or whole directories, with their sidecars (`<artifact>.bk.json`)
 * and extra paths. Returns the paths removed (with dryRun: the paths that would be), newest entry first.
 * Stops at the first path it cannot remove (BkError), so what remains is still a consistent location.
 */
export async function prune<E extends Prunable>(plan: RetentionPlan<E>, options: PruneOptions = {}): Promise<string[]> {
  const removed: string[] = []
  for (const entry of plan.remove) {
    const paths = [entry.path, entry.sidecar ?? entry.path + SIDECAR_SUFFIX, ...(entry.extraPaths ?? [])]
    for (const path of paths) {
      try {
        if (!(await pathExists(path))) continue // e.g. a sidecar that was never written
        if (!options.dryRun) {
          options.onRemove?.(path)
          await rm(path, {recursive: true, force: true})
        }
      } catch (error) {
        throw new BkError(`cannot remove ${path}: ${messageOf(error)}; older backups were not pruned`, {cause: error})
      }
      removed.push(path)
    }
  }
  return removed
}
