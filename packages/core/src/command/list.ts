import type {Command} from '@bkcli/core/oclif'
import {type ArtifactStore, artifactRow, formatArtifacts, newestFirst} from '../workflow/artifacts.js'
import {BkCommand} from './base.js'

/**
 * `bk <app> list`: the same table and --json in every plugin. A plugin's command says only where its location
 * is and how its artifacts look (`store()`).
 */
export abstract class ListCommand<T extends typeof Command> extends BkCommand<T> {
  static override resultKind = 'list' as const

  /** The location to list, from the command's args and flags. */
  protected abstract store(): Promise<ArtifactStore>

  async run() {
    const store = await this.store()
    const artifacts = newestFirst(await store.list()).map(artifactRow)
    return this.report({location: store.location, artifacts}, (r) => formatArtifacts(r.artifacts, r.location))
  }
}
