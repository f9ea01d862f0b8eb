import type {Command} from '@oclif/core'
import type {VerifyOutput} from '../workflow/results.js'
import {BkCommand} from './base.js'

/**
 * `bk <app> verify <backup>`: one result shape in every plugin; a failed check prints its problems, then exits 1
 * with one line on stderr (under --json the result is still the one document on stdout).
 */
export abstract class VerifyCommand<T extends typeof Command> extends BkCommand<T> {
  static override resultKind = 'verify' as const

  /** Check the artifact named by the args; problems are returned, not thrown (a missing file may throw). */
  protected abstract check(): Promise<VerifyOutput & Record<string, unknown>>

  /** Extra human lines after the verdict (what was checked). */
  protected describe(_result: VerifyOutput & Record<string, unknown>): string[] {
    return []
  }

  async run() {
    const result = await this.check()
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
}
