import type {StateSpec} from './state.js'

/**
 * One command's --dry-run trial: set up real data, name what the command could touch. The central test
 * (apps/bk/test/dry-run.test.ts) fingerprints that state, runs `bk <argv> --dry-run --yes` (with a pre-command
 * that would leave a marker), and requires the fingerprint unchanged, no marker, no lock left.
 * Every command that offers --dry-run must have a case (the test reads the oclif manifests), so none escapes.
 */
export interface DryRunCase {
  /** The oclif id: 'trac:restore'. */
  command: string
  /** Makes the data; returns the argv after `bk` (without --dry-run) and what to fingerprint. */
  setup(): Promise<DryRunSetup>
}

export interface DryRunSetup {
  argv: string[]
  state: StateSpec
  env?: Record<string, string | undefined>
  /** Folder bk runs in (default: the test's): for command lines that name no folder (`bk iotstack backup 3 pi`). */
  cwd?: string
  /** Drops databases the setup created. */
  cleanup?: () => Promise<void>
}
