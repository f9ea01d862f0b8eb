import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'
import {BkError} from '../errors.js'
import {crashPoint} from '../safety/crash-point.js'
import {onInterrupt} from '../safety/interrupt.js'
import {pidAlive} from '../safety/pid.js'

/**
 * One commit point for a target of several parts (Data.fs + blobstorage; env + an outside SQLite file; a stack's
 * folders + .env). Each part's new copy is staged complete and checked beside its target first; then a journal
 * is written (fsynced), and the parts are swapped in by rename. A crash before the journal leaves the old state
 * (the stages are leftovers); a crash after it is rolled forward by the next run (`recoverCommit`), so the target
 * is never left mixed once any bk runs on it. Replaced copies are removed, or kept under names that are never
 * reused (`keep`).
 */
export interface CommitPart {
  /**
   * The new copy, complete and checked, on the same file system as `target`. `null` or omitted: the part only
   * takes the target away (moved to its previous name with the rest, or removed at the end), e.g. a stale SQLite
   * `-wal` that must not meet the new database file.
   */
  stage?: string | null
  /** What it replaces; need not exist. */
  target: string
}

/** Where the journal goes and how the previous parts are kept. */
export interface CommitOptions {
  /** Where the journal goes: on the same disk as the targets (it must survive a power cut). See journalPathFor. */
  journal: string
  /** Keep each replaced copy at this path (it must not exist: a kept copy is never overwritten). */
  keepAs?: (part: CommitPart) => string
}

interface JournalPart extends CommitPart {
  previous: string
  hadTarget: boolean
}

interface Journal {
  pid: number
  started: string
  keep: boolean
  parts: JournalPart[]
}

/** `.<name>.bk-commit.json` beside the first target. */
export function journalPathFor(target: string): string {
  const abs = resolve(target)
  return join(dirname(abs), `.${basename(abs)}.bk-commit.json`)
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function writeJournal(path: string, journal: Journal): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(journal, null, 2)}\n`, {mode: 0o600})
  const fd = openSync(tmp, 'r')
  fsyncSync(fd)
  closeSync(fd)
  renameSync(tmp, path)
  fsyncDirSync(dirname(path))
}

/** Swap every part in (see above). Returns the paths where replaced copies were kept. */
export async function commitParts(parts: CommitPart[], options: CommitOptions): Promise<{kept: string[]}> {
  if (exists(options.journal)) {
    throw new BkError(`an interrupted commit is pending (${options.journal}); run the command again to finish it first`)
  }
  const journal: Journal = {
    pid: process.pid,
    started: new Date().toISOString(),
    keep: Boolean(options.keepAs),
    parts: parts.map((p) => {
      const stage = p.stage == null ? null : resolve(p.stage)
      const target = resolve(p.target)
      const previous = options.keepAs ? resolve(options.keepAs(p)) : `${target}.bk-prev-${process.pid}`
      if (stage !== null && !exists(stage))
        throw new BkError(`nothing staged for ${target} (${stage} is missing); nothing was changed`)
      if (exists(previous)) throw new BkError(`${previous} already exists and is never overwritten; move it away first`)
      return {stage, target, previous, hadTarget: exists(target)}
    }),
  }
  writeJournal(options.journal, journal)
  crashPoint('commit:journal')
  // A signal in the middle of the renames finishes them (they take microseconds): never a mix.
  const unregister = onInterrupt(() => rollForward(journal))
  try {
    rollForward(journal)
  } finally {
    unregister()
  }
  finish(options.journal, journal)
  return {kept: journal.keep ? journal.parts.filter((p) => p.hadTarget).map((p) => p.previous) : []}
}

/** Every part swapped in, idempotently: each rename is done only if it is still to do. */
function rollForward(journal: Journal): void {
  for (const part of journal.parts) {
    // a part without a stage only goes away: moved aside with the replaced copies
    if (part.stage == null) {
      moveAside(part)
      continue
    }
    if (!exists(part.stage)) continue // this part is in place
    moveAside(part)
    renameSync(part.stage, part.target)
    crashPoint('commit:part')
  }
  for (const dir of new Set(journal.parts.map((p) => dirname(p.target)))) fsyncDirSync(dir)
}

/** The replaced copy moved to its previous name, unless that was done already (or there was none). */
function moveAside(part: JournalPart): void {
  if (!part.hadTarget || !exists(part.target)) return
  if (exists(part.previous)) {
    throw new BkError(
      `cannot finish the commit of ${part.target}: both it and ${part.previous} exist; check them by hand`,
    )
  }
  renameSync(part.target, part.previous)
  crashPoint('commit:aside')
}

/** Replaced copies removed (unless kept), then the journal: the commit is complete. */
function finish(path: string, journal: Journal): void {
  if (!journal.keep) {
    for (const part of journal.parts) {
      rmSync(part.previous, {recursive: true, force: true})
      crashPoint('commit:drop-previous')
    }
  }
  rmSync(path, {force: true})
  fsyncDirSync(dirname(path))
}

/**
 * Before anything else on a target: finish a commit that a killed run left (roll forward). Returns a line saying
 * what was done, or nothing when there was no journal. Refuses while the journal's process still runs. `what` names
 * the interrupted operation in that line ('restore', 'backup').
 */
export async function recoverCommit(journalPath: string, what = 'restore'): Promise<string[]> {
  if (!existsSync(journalPath)) return []
  let journal: Journal
  try {
    journal = JSON.parse(readFileSync(journalPath, 'utf8')) as Journal
  } catch {
    throw new BkError(
      `${journalPath} is unreadable: an interrupted commit cannot be finished; check the targets by hand`,
    )
  }
  if (journal.pid !== process.pid && pidAlive(journal.pid)) {
    throw new BkError(`a commit by pid ${journal.pid} is in progress (${journalPath}); wait for it`, {code: 'ELOCKED'})
  }
  rollForward(journal)
  finish(journalPath, journal)
  const targets = journal.parts.map((p) => p.target).join(', ')
  const kept = journal.keep
    ? `; the previous copies are kept at ${journal.parts.map((p) => p.previous).join(', ')}`
    : ''
  return [
    `finished a ${what} interrupted at its commit (since ${journal.started}): ${targets} now hold the new copy${kept}`,
  ]
}

/**
 * Where `target`'s new copy is while a commit that a killed run left is pending (its stage, complete and
 * checked), or undefined when no pending journal names it or the target is in place. Reads only: a command can
 * plan from it before taking its locks, and its `recover()` then finishes the commit.
 */
export function pendingCommitStage(journalPath: string, target: string): string | undefined {
  if (!existsSync(journalPath)) return undefined
  try {
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as Journal
    const part = journal.parts.find((p) => p.target === resolve(target))
    return part?.stage && exists(part.stage) && !exists(part.target) ? part.stage : undefined
  } catch {
    return undefined
  }
}
