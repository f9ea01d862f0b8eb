import {closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {pidAlive} from '@bkcli/core/safety'

/**
 * What a running bk aegir command has changed outside its stage, written (fsynced) before each change, so that the
 * next bk run on the site can undo or finish it after a kill -9, a power cut or a signal: maintenance mode switched
 * on (and the value before), a database and user created, the dump written into the site folder, a stage folder,
 * and whether the new site was committed. No secrets: the admin account is kept as a URL without password.
 */
export interface JournalState {
  pid: number
  command: string
  started: string
  /** The admin account (no password) that created the database; recovery drops through it. */
  admin?: {url: string; grantHost: string}
  /** Maintenance mode switched on in `database` by this run; `previous` is the raw value before (null: no row). */
  maintenance?: {database: string; major: number; previous: string | null}
  /** A database and user this run created (dropped again unless the run committed). */
  created?: {database: string; user: string}
  /** The dump written into the site folder by a backup (removed by recovery). */
  dump?: string
  /** The stage folder that becomes `target` at the commit. */
  stage?: string
  target?: string
  /** 'committing': core's commitParts is swapping the folders; 'committed': the new site is live. */
  phase?: 'staging' | 'committing' | 'committed'
  /** After the commit: the old database, user (and, for migrate, folder) to retire. */
  retire?: {database: string; user?: string; folder?: string}
}

type Work = Omit<JournalState, 'pid' | 'command' | 'started'>

/** `<sites>/.<uri>.bk-aegir.json`: beside the site folder, under the site's lock. */
export function journalPathOf(siteDir: string): string {
  return join(dirname(siteDir), `.${basename(siteDir)}.bk-aegir.json`)
}

export class SiteJournal {
  private state: JournalState

  constructor(
    readonly path: string,
    command: string,
  ) {
    this.state = {pid: process.pid, command, started: new Date().toISOString()}
  }

  static forSite(siteDir: string, command: string): SiteJournal {
    return new SiteJournal(journalPathOf(siteDir), command)
  }

  get current(): Readonly<JournalState> {
    return this.state
  }

  /** Records a change before it is made (fields set to undefined are forgotten); no work left removes the file. */
  record(patch: Partial<Work>): void {
    const next: Record<string, unknown> = {...this.state, ...patch}
    for (const key of Object.keys(next)) if (next[key] === undefined) delete next[key]
    this.state = next as unknown as JournalState
    if (!hasWork(this.state)) {
      this.clear()
      return
    }
    writeDurably(this.path, `${JSON.stringify(this.state, null, 2)}\n`)
  }

  /** Nothing left to undo: the journal goes. */
  clear(): void {
    if (!existsSync(this.path)) return
    rmSync(this.path, {force: true})
    fsyncDir(dirname(this.path))
  }
}

function hasWork(state: JournalState): boolean {
  const {pid: _p, command: _c, started: _s, admin: _a, ...work} = state
  return Object.values(work).some((v) => v !== undefined)
}

/** The journal a killed run left (its pid is gone); undefined when there is none. */
export function readJournal(siteDir: string): JournalState | undefined {
  const path = journalPathOf(siteDir)
  if (!existsSync(path)) return undefined
  let state: JournalState
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as JournalState
  } catch {
    throw new BkError(`${path} is unreadable: an interrupted bk aegir run cannot be undone; check the site by hand`)
  }
  if (state.pid !== process.pid && pidAlive(state.pid)) {
    throw new BkError(`'${state.command}' (pid ${state.pid}) is still working on ${siteDir}; wait for it`, {
      code: 'ELOCKED',
    })
  }
  return state
}

function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text, {mode: 0o600})
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  fsyncDir(dirname(path))
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
