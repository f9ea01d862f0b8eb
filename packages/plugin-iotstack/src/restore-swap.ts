import {lstat, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {atomicFile, BkError, fsyncDir} from '@bkcli/core'

/**
 * Puts a staged set of stack members in place as one step. A stack folder also holds things a restore must not
 * touch (the IOTstack clone, backups/, its logs), so the swap is per member: each current member is renamed into
 * `prev/`, each staged member renamed into place. Renames on one file system are instant, and a journal
 * (`.bk-restore-journal.json`) written before the first rename lets any later bk run finish the job: an
 * interrupted swap is rolled back, so the stack holds the old members or the new ones, never a mix.
 */
export const JOURNAL = '.bk-restore-journal.json'

export interface SwapPlan {
  /** Stack folder. */
  dir: string
  /** Folder (inside `dir`) holding the extracted members. */
  stage: string
  /** Folder (inside `dir`) receiving the members replaced or moved aside. */
  prev: string
  /** Members to take from the stage. */
  bring: string[]
  /** Current members to move aside without a replacement. */
  remove: string[]
}

interface Journal extends SwapPlan {
  phase: 'swapping' | 'swapped'
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  )
}

async function writeJournal(journal: Journal): Promise<void> {
  await atomicFile(join(journal.dir, JOURNAL), (tmp) => writeFile(tmp, JSON.stringify(journal, null, 2)), {
    overwrite: true,
    mode: 0o600,
  })
}

/** Swaps the members in; on any failure puts everything back and rethrows. Leaves `prev` for the caller. */
export async function swapMembers(
  plan: SwapPlan,
  hooks: {afterEach?: (name: string) => Promise<void>} = {},
): Promise<void> {
  const journal: Journal = {...plan, phase: 'swapping'}
  await writeJournal(journal)
  try {
    for (const name of plan.remove) {
      if (await exists(join(plan.dir, name))) await rename(join(plan.dir, name), join(plan.prev, name))
      await hooks.afterEach?.(name)
    }
    for (const name of plan.bring) {
      if (await exists(join(plan.dir, name))) await rename(join(plan.dir, name), join(plan.prev, name))
      await rename(join(plan.stage, name), join(plan.dir, name))
      await hooks.afterEach?.(name)
    }
    await fsyncDir(plan.dir)
    await writeJournal({...journal, phase: 'swapped'})
  } catch (error) {
    try {
      await rollBack(journal)
    } catch (rollbackError) {
      throw new BkError(
        `restore failed (${(error as Error).message}) and so did putting the old files back (${(rollbackError as Error).message}); the old files are in ${plan.prev}`,
      )
    }
    throw error
  }
}

/** Undo whatever part of the swap happened, member by member (see swapMembers for the two renames per member). */
async function rollBack(journal: Journal): Promise<void> {
  for (const name of [...journal.bring].reverse()) {
    const current = join(journal.dir, name)
    const staged = join(journal.stage, name)
    const previous = join(journal.prev, name)
    // Staged member already moved in: move it back to the stage.
    if (!(await exists(staged)) && (await exists(current))) await rename(current, staged)
    if (await exists(previous)) await rename(previous, current)
  }
  for (const name of journal.remove) {
    const previous = join(journal.prev, name)
    if (await exists(previous)) await rename(previous, join(journal.dir, name))
  }
  await fsyncDir(journal.dir)
  await rm(join(journal.dir, JOURNAL), {force: true})
}

/** Removes the journal, the stage and the moved-aside members after a successful swap. */
export async function finishSwap(plan: SwapPlan): Promise<void> {
  await rm(join(plan.dir, JOURNAL), {force: true})
  await rm(plan.stage, {recursive: true, force: true})
  await rm(plan.prev, {recursive: true, force: true})
}

/**
 * Called (under the stack's lock) before any backup or restore: an interrupted swap is rolled back, a finished one
 * tidied, and stale stage folders of killed restores removed. Returns what it did, or undefined.
 */
export async function recoverInterruptedRestore(dir: string): Promise<'rolled-back' | 'finished' | undefined> {
  const file = join(dir, JOURNAL)
  let journal: Journal
  try {
    journal = JSON.parse(await readFile(file, 'utf8')) as Journal
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      await removeStaleStages(dir)
      return undefined
    }
    throw new BkError(`${file} is unreadable; an interrupted restore needs a look: ${(error as Error).message}`)
  }
  if (journal.dir !== dir) journal = {...journal, dir}
  if (journal.phase === 'swapped') {
    await finishSwap(journal)
    return 'finished'
  }
  await rollBack(journal)
  await rm(journal.stage, {recursive: true, force: true})
  await rm(journal.prev, {recursive: true, force: true})
  return 'rolled-back'
}

export const STAGE_PREFIX = '.bk-restore-stage-'
export const PREV_PREFIX = '.bk-restore-prev-'

async function removeStaleStages(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith(STAGE_PREFIX) && !name.startsWith(PREV_PREFIX)) continue
    // Only this process's stages are live; the stack's lock keeps other bk runs out.
    if (name.endsWith(`-${process.pid}`)) continue
    await rm(join(dir, name), {recursive: true, force: true})
  }
}
