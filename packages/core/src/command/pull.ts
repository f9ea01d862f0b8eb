import {Args, type Command, Flags} from '@bkcli/core/oclif'
import {BkError} from '../errors.js'
import {listOffsite, type PullOutput, planPullSteps, pullEntries, recoverPull} from '../offsite/copy.js'
import {formatBytes} from '../ui/progress.js'
import type {ArtifactStore} from '../workflow/artifacts.js'
import type {VerifyOutput} from '../workflow/results.js'
import {BkCommand} from './base.js'
import {dryRunFlag} from './flags.js'

/**
 * `bk <app> pull <source>`: brings off-site copies (what `backup --copy-to` made) back into the location, under
 * the names and folders they had, and verifies each. A plugin says where its location is (`store()`) and how to
 * verify an artifact (`verifyPulled()`); its args start with `source`.
 */
export abstract class PullCommand<T extends typeof Command> extends BkCommand<T> {
  static override resultKind = 'operation' as const
  /** Spread into a plugin's `static flags`. */
  static pullFlags = {
    ...dryRunFlag,
    name: Flags.string({description: 'The backup to fetch, by name (default: the newest).'}),
    all: Flags.boolean({description: 'Fetch every backup the target holds that is not here yet.', exclusive: ['name']}),
    list: Flags.boolean({description: 'List what the target holds (newest first) and change nothing.'}),
  }
  /** The `source` argument, first of a plugin's args. */
  static sourceArg = {
    source: Args.string({description: 'restic:<repository> or an rclone destination (remote:path).', required: true}),
  }

  /** The location to pull into, from the command's args and flags. */
  protected abstract store(): Promise<ArtifactStore>

  /** Checks an artifact once it is in place (the plugin's verify); undefined skips the check. */
  protected async verifyPulled(_path: string): Promise<VerifyOutput | undefined> {
    return undefined
  }

  async run() {
    const flags = this.flags as {name?: string; all?: boolean; list?: boolean}
    const source = (this.args as {source: string}).source
    if (flags.list) {
      const entries = await listOffsite(source, this.topic)
      return this.report(
        {
          source,
          artifacts: entries.map((e) => ({name: e.name, kind: e.kind, date: e.date, bytes: e.bytes, path: e.path})),
        },
        (r) =>
          r.artifacts.length === 0
            ? `${source} holds no ${this.topic} backup.`
            : r.artifacts.map(
                (a) => `${a.date.slice(0, 16).replace('T', ' ')}  ${a.kind}  ${formatBytes(a.bytes)}  ${a.name}`,
              ),
      )
    }
    const store = await this.store()
    const options = {name: flags.name, all: flags.all}
    return this.execute(
      {
        kind: 'operation',
        plan: async () => planPullSteps(source, store.location, options),
        locks: [store.location],
        recover: () => recoverPull(store.location),
        act: async (_plan, context) => {
          const pulled: PullOutput & {verified?: (VerifyOutput & Record<string, unknown>)[]} = await pullEntries(
            source,
            this.topic,
            store.location,
            options,
          )
          const verified: (VerifyOutput & Record<string, unknown>)[] = []
          for (const a of pulled.artifacts) {
            const check = await this.verifyPulled(a.path)
            if (!check) continue
            verified.push(check as VerifyOutput & Record<string, unknown>)
            if (!check.ok) context.note(`${a.path} failed verification: ${check.problems[0] ?? 'unknown problem'}`)
          }
          if (verified.length > 0) pulled.verified = verified
          const bad = verified.find((v) => !v.ok)
          if (bad) {
            throw new BkError(`${bad.artifact} was pulled but failed verification: ${bad.problems[0] ?? 'unknown'}`)
          }
          return pulled
        },
      },
      (r) => [
        ...r.artifacts.map((a) => `Fetched ${a.path} (${formatBytes(a.bytes)}) from ${r.source} (${r.tool}).`),
        ...r.skipped.map((name) => `Already here: ${name}.`),
        ...(r.artifacts.length === 0 ? [`Nothing to fetch from ${r.source}.`] : []),
        ...((r as {verified?: VerifyOutput[]}).verified ?? []).map(
          (v) => `Verified ${v.artifact}: ${v.checked} checked.`,
        ),
      ],
    )
  }
}
