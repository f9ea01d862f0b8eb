/**
 * One command's retention-flags trial: put backups dated `dates` where the command looks, and say what the
 * command line is and which of them are still there afterwards. The central test (apps/bk/test/retention-flags.test.ts)
 * runs `bk <argv> --keep-daily 3 --yes` and the like, and compares the survivors with what the rule keeps.
 * Every command that shows --keep-daily must have a case (the test reads the oclif manifests).
 */
export interface RetentionCase {
  /** The oclif id: 'trac:prune'. */
  command: string
  /** Whether the command makes a backup of its own (now) before it applies the rules. */
  makesBackup?: boolean
  setup(dates: Date[]): Promise<RetentionSetup>
}

export interface RetentionSetup {
  argv: string[]
  env?: Record<string, string | undefined>
  /** Which of the dates given to setup still have their backup. */
  left(): Date[]
  cleanup?: () => Promise<void>
}
