import {type Command, Flags} from '@bkcli/core/oclif'
import {withFetched} from '../offsite/copy.js'
import type {VerifyOutput} from '../workflow/results.js'
import {BkCommand} from './base.js'

/**
 * `bk <app> verify <backup>`: one result shape in every plugin; a failed check prints its problems, then exits 1
 * with one line on stderr (under --json the result is still the one document on stdout).
 */
export abstract class VerifyCommand<T extends typeof Command> extends BkCommand<T> {
  static override resultKind = 'verify' as const
  /** `--from <remote>`: spread into the flags of a verify whose first argument names one artifact. */
  static fromFlag = {
    from: Flags.string({
      description:
        'Verify an off-site copy: fetch the backup named by the argument (or "latest") from this restic:<repository> or rclone remote:path into a scratch folder, check it there, remove it.',
      helpGroup: 'OFF-SITE',
    }),
  }

  /** Check the artifact named by the args; problems are returned, not thrown (a missing file may throw). */
  protected abstract check(): Promise<VerifyOutput & Record<string, unknown>>

  /** Extra human lines after the verdict (what was checked). */
  protected describe(_result: VerifyOutput & Record<string, unknown>): string[] {
    return []
  }

  async run() {
    const from = (this.flags as {from?: string}).from
    const result = from ? await this.checkOffsite(from) : await this.check()
    this.report(result, (r) => [
      `${r.ok ? 'OK' : 'FAILED'}: ${r.artifact} (${r.checked} checked)`,
      ...this.describe(r).map((line) => `  ${line}`),
      ...r.problems.map((p) => `  problem: ${p}`),
    ])
    if (!result.ok) {
      process.stderr.write(
        `${this.config.bin}: ${result.artifact} failed verification: ${result.problems[0] ?? 'unknown problem'}\n`,
      )
      this.exit(1)
    }
    return result
  }

  /** verify --from: the artifact argument names the copy; check() sees the fetched path in its place. */
  private async checkOffsite(from: string): Promise<VerifyOutput & Record<string, unknown>> {
    const ctor = this.ctor as typeof VerifyCommand
    const key = Object.keys(ctor.args ?? {})[0]
    const args = this.args as Record<string, unknown>
    const name = key ? (args[key] as string | undefined) : undefined
    return withFetched(from, this.topic, name, async (path, entry) => {
      if (key) args[key] = path
      const result = await this.check()
      return {...result, artifact: `${entry.name} (${from})`}
    })
  }
}
