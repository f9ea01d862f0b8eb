import {BkError} from '@bkcli/core/errors'
import type {BackupType} from './backup.js'

/**
 * IOTstack's own command lines, as its users type them: `./scripts/backup.sh {TYPE=3} {USER}` and
 * `./scripts/restore.sh [FILENAME] {noask}`, run from the IOTstack folder. bk takes the same words where its
 * STACK-DIR argument stands: `bk iotstack backup 3 pi`, `bk iotstack restore backup_6.tar.gz noask`. A folder
 * literally named `1`, `2`, `3` or `noask` is given as `./1`, `./noask`.
 */
export const IOTSTACK_TYPES: Record<string, BackupType> = {'1': 'dated', '2': 'rolling', '3': 'both'}

export interface BackupWords {
  stack: string
  type: BackupType
  /** The owner of the artifacts (root only): --user, or IOTstack's USER. */
  user?: string
  /** A line to show: what bk made of IOTstack's words. */
  notes: string[]
}

/** `[STACK-DIR]` or `1|2|3 [USER]`, with the flags --type and --user. */
export function backupWords(
  first: string | undefined,
  second: string | undefined,
  flags: {type?: string; user?: string},
  euid: number = process.geteuid?.() ?? -1,
): BackupWords {
  const notes: string[] = []
  const iotType = first === undefined ? undefined : IOTSTACK_TYPES[first]
  if (!iotType) {
    if (second !== undefined)
      throw new BkError(
        `unexpected argument '${second}': IOTstack's USER follows a backup type (bk iotstack backup 3 ${second}); else use --user ${second}`,
        {exit: 2},
      )
    return {stack: first ?? '.', type: (flags.type as BackupType | undefined) ?? 'both', user: flags.user, notes}
  }
  if (flags.type && flags.type !== iotType)
    throw new BkError(
      `backup type ${first} is --type ${iotType}, but --type ${flags.type} was given: give one of them`,
      {
        exit: 2,
      },
    )
  let user = flags.user
  if (second !== undefined) {
    if (flags.user && flags.user !== second)
      throw new BkError(`USER ${second} and --user ${flags.user} differ: give one of them`, {exit: 2})
    // backup.sh uses USER only when run as root; otherwise the files are the caller's ($(whoami)).
    if (euid === 0) user = second
    else if (!flags.user)
      notes.push(`USER ${second} is used only when run as root, as in IOTstack's backup.sh: ignored`)
  }
  return {stack: '.', type: iotType, user, notes}
}

/** `ARCHIVE [STACK-DIR]` or IOTstack's `FILE noask` (no confirmation, the current folder). */
export function restoreWords(second: string | undefined): {stack: string; noask: boolean} {
  if (second === 'noask') return {stack: '.', noask: true}
  return {stack: second ?? '.', noask: false}
}
