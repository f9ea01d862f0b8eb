import {Flags} from '@bkcli/core/oclif'
import type {RetentionPolicy} from './retention.js'

const group = 'RETENTION'

/** The retention flags, the same on every plugin's prune (and backup) command. */
export const retentionFlags = {
  keep: Flags.integer({min: 0, description: 'Keep the newest <n> backups.', helpGroup: group}),
  'keep-days': Flags.integer({min: 0, description: 'Keep every backup made in the last <n> days.', helpGroup: group}),
  'keep-daily': Flags.integer({
    min: 0,
    description: 'Keep the newest backup of each of the last <n> days that have backups.',
    helpGroup: group,
  }),
  'keep-weekly': Flags.integer({
    min: 0,
    description: 'Keep the newest backup of each of the last <n> weeks (Monday to Sunday) that have backups.',
    helpGroup: group,
  }),
  'keep-monthly': Flags.integer({
    min: 0,
    description: 'Keep the newest backup of each of the last <n> months that have backups.',
    helpGroup: group,
  }),
}

/** The parsed values of the shared retention flags (`--keep-last`, `--keep-daily`, …). */
export interface RetentionFlagValues {
  keep?: number
  'keep-days'?: number
  'keep-daily'?: number
  'keep-weekly'?: number
  'keep-monthly'?: number
}

/** The policy of parsed retention flags (undefined rules stay undefined). */
export function retentionFromFlags(flags: RetentionFlagValues, clock?: RetentionPolicy['clock']): RetentionPolicy {
  return {
    keep: flags.keep,
    keepDays: flags['keep-days'],
    keepDaily: flags['keep-daily'],
    keepWeekly: flags['keep-weekly'],
    keepMonthly: flags['keep-monthly'],
    ...(clock ? {clock} : {}),
  }
}

/** Whether any retention flag was given (a backup command prunes afterwards only then). */
export function hasRetention(policy: RetentionPolicy): boolean {
  return [policy.keep, policy.keepDays, policy.keepDaily, policy.keepWeekly, policy.keepMonthly].some((v) => !!v)
}
