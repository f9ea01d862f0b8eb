import {readdir, rm, rmdir} from 'node:fs/promises'
import {join} from 'node:path'
import {pidAlive} from '@bkcli/core/safety'
import {recoverCommit, sweepLeftovers} from '@bkcli/core/workflow'
import type {StackPaths} from './stack.js'
import {recoverStopped} from './stopped-marker.js'

/**
 * Crash recovery for a stack and its backups folder, run by core under their locks before any backup, restore,
 * prune or pull: a restore or backup killed inside its commit is rolled forward (the journal says what was
 * swapped), then what killed runs left is removed — extract folders, staged archives, partial files, replaced
 * copies of dead processes (`*.bk-prev-PID`) — and every removal is reported. A backup killed while the stack was
 * down for its copy left a marker: the stack is brought up again.
 */
export const RESTORE_JOURNAL = '.bk-restore.bk-commit.json'
/** Where a restore keeps the members it replaced: `<stack>/.bk-kept/<time>-<pid>/` (never reused, never deleted). */
export const KEPT_DIR = '.bk-kept'

export function restoreJournal(stack: string): string {
  return join(stack, RESTORE_JOURNAL)
}

const PREV = /\.bk-prev-(\d+)$/
const JOURNAL_TMP = /\.bk-commit\.json\.tmp-(\d+)$/

export async function recoverStack(paths: StackPaths): Promise<string[]> {
  const lines = [...(await recoverCommit(restoreJournal(paths.dir), 'restore'))]
  for (const dir of [paths.dated, paths.rolling]) {
    for (const name of await names(dir)) {
      if (name.startsWith('.') && name.endsWith('.bk-commit.json'))
        lines.push(...(await recoverCommit(join(dir, name), 'backup')))
    }
  }
  for (const dir of [paths.dir, paths.backups, paths.dated, paths.rolling, paths.preRestore, paths.logs]) {
    lines.push(...(await sweepLeftovers(dir)))
    for (const name of await names(dir)) {
      const pid = Number((PREV.exec(name) ?? JOURNAL_TMP.exec(name))?.[1])
      if (!pid || pid === process.pid || pidAlive(pid)) continue
      await rm(join(dir, name), {recursive: true, force: true})
      lines.push(`removed ${join(dir, name)}, left by an interrupted run`)
    }
  }
  // A restore killed before its commit leaves an empty folder for the copies it would have kept.
  for (const name of await names(join(paths.dir, KEPT_DIR))) {
    await rmdir(join(paths.dir, KEPT_DIR, name)).catch(() => {})
  }
  await rmdir(join(paths.dir, KEPT_DIR)).catch(() => {})
  lines.push(...(await recoverStopped(paths)))
  return lines
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [])
}
