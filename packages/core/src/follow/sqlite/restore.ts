// Restore from an SQLite follow location, to its newest state or --as-of a time: the newest snapshot at or
// before that time, then every shipped commit after it seen at or before that time, page by page as SQLite's
// checkpoint would write them (each commit frame sets the database size). The copy is built beside the target,
// checked with PRAGMA integrity_check, and swapped in with the followed folders at one commit point (the
// replaced ones are kept as <path>.old-<time>); a stale -wal/-shm of the target is moved away with them.
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, open, readdir, rm, stat, utimes} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {loadSqlite} from '../../db/drivers.js'
import {BkError} from '../../errors.js'
import {copyHashed, copyLiveHashed} from '../../fs/copy-file.js'
import {syncTree} from '../../fs/fsync-tree.js'
import {fsyncPath} from '../../fs/paths.js'
import {readWholeFile, reusedBuffer} from '../../fs/read-whole.js'
import {WorkQueue} from '../../fs/work-queue.js'
import {isPlainRelativePath} from '../../manifest/schema.js'
import {
  type Frontend,
  type FrontendReport,
  frontendLines,
  frontendSteps,
  withFrontendsStopped,
} from '../../process/frontends.js'
import {pidAlive} from '../../safety/pid.js'
import {commitParts, journalPathFor, recoverCommit} from '../../workflow/commit.js'
import type {Operation} from '../../workflow/operation.js'
import {type Plan, step} from '../../workflow/plan.js'
import {chainBreak} from './chain.js'
import type {FileEntry, FollowedFolder} from './files.js'
import {filesAsOf, objectPath, readFilesLogs} from './files.js'
import {readMarker} from './follower.js'
import {
  completeGenerations,
  FOLLOW_MARKER,
  type FollowManifest,
  generationsDir,
  listGenerations,
  readManifests,
} from './location.js'
import {replayFrames} from './replay.js'

/** What to restore: the database file and the followed folders, and to when. */
export interface SqliteFollowRestoreOptions {
  /** the newest shipped state when undefined */
  asOf?: Date
  /** the database file to write (replaced when it exists) */
  db: string
  folders?: FollowedFolder[]
  /** servers stopped around the swap and started again afterwards (also on failure) */
  frontends?: Frontend[]
}

/** What a restore did. */
export interface SqliteFollowRestoreResult {
  source: string
  db: string
  generation: string
  snapshot: string
  /** commits replayed on top of the snapshot */
  commits: number
  /** when the last restored commit was seen by the follower (or the snapshot's time) */
  restoredTo: string
  asOf?: string
  files: number
  kept: string[]
  integrity: string
  /** the frontends stopped for the restore and started again */
  frontends?: FrontendReport[]
}

interface Chosen {
  generation: string
  dir: string
  snapshot: FollowManifest
  segments: {manifest: FollowManifest; commits: number}[]
  commits: number
  restoredTo: string
}

/** Choose the generation, snapshot and segments for a time (reads only). */
export async function chooseFollowState(location: string, asOf?: Date): Promise<Chosen> {
  const limit = asOf?.getTime() ?? Number.POSITIVE_INFINITY
  const gens = await listGenerations(location)
  for (let g = gens.length - 1; g >= 0; g--) {
    const dir = join(generationsDir(location), gens[g]!)
    const manifests = await readManifests(dir)
    const snapshots = manifests.filter((m) => m.kind === 'snapshot' && Date.parse(m.time) <= limit)
    if (!manifests.some((m) => m.kind === 'snapshot' && m.seq === 0) || snapshots.length === 0) continue
    const snapshot = snapshots.at(-1)!
    const segments: Chosen['segments'] = []
    let commits = 0
    let restoredTo = snapshot.time
    let prev = snapshot
    for (const m of manifests) {
      if (m.seq <= snapshot.seq) continue
      if (m.kind !== 'wal') break // a later snapshot: what follows continues it, not the one chosen
      const n = (m.commits ?? []).filter((c) => Date.parse(c.time) <= limit).length
      if (n === 0) break
      const broken = chainBreak(prev, m)
      if (broken)
        throw new BkError(
          `${dir}: ${broken}; the location lost commits there (run --verify). --as-of ${restoredTo} restores up to the last commit before the gap`,
        )
      prev = m
      segments.push({manifest: m, commits: n})
      commits += n
      restoredTo = m.commits![n - 1]!.time
      if (n < (m.commits ?? []).length) break
    }
    return {generation: gens[g]!, dir, snapshot, segments, commits, restoredTo}
  }
  // without --as-of only a location with no complete generation gets here: an incomplete one (a first snapshot a
  // killed run never recorded) holds no shipped database either, and "nothing as old as undefined" misled
  if (!asOf || (await completeGenerations(location)).length === 0)
    throw new BkError(`${location} holds no shipped database yet; check the path, or let follow run`)
  throw new BkError(`${location} holds nothing as old as ${asOf?.toISOString()}; give a later --as-of`)
}

/** Build the database as of the chosen state into `dest` (a new file); returns integrity_check's answer. */
export async function buildFollowedDb(chosen: Chosen, dest: string): Promise<string> {
  const snap = join(chosen.dir, chosen.snapshot.file)
  // the kernel's copy, then the copy hashed (from the page cache): one read of the snapshot from disk, and less CPU
  // than a copy by reads and writes when the snapshot is itself in the page cache (one just shipped)
  if ((await copyLiveHashed(snap, dest)).sha256 !== chosen.snapshot.sha256) {
    await rm(dest, {force: true})
    throw new BkError(`${snap} does not match its manifest's sha256; the location is damaged (run --verify)`)
  }
  const fh = await open(dest, 'r+')
  try {
    let size = (await fh.stat()).size
    // one buffer for every segment, as large as the largest (64 MiB at most): one per segment, or one grown from
    // segment to segment, kept the last one alive beside the next until a collection. A loop, not Math.max(...): a
    // day of a busy database is hundreds of thousands of segments, past the arguments a call can take
    let largest = 0
    for (const s of chosen.segments) largest = Math.max(largest, s.manifest.bytes)
    const into = reusedBuffer(largest)
    for (const {manifest: m, commits} of chosen.segments) {
      const path = join(chosen.dir, m.file)
      const data = await readWholeFile(path, into)
      if (createHash('sha256').update(data).digest('hex') !== m.sha256) {
        throw new BkError(`${path} does not match its manifest's sha256; the location is damaged (run --verify)`)
      }
      size = replayFrames(fh.fd, size, data, m.pageSize, m.commits![commits - 1]!.frame, path)
    }
    await fh.sync()
  } finally {
    await fh.close()
  }
  const Driver = await loadSqlite()
  const db = new Driver(dest, {fileMustExist: true})
  try {
    db.pragma('journal_mode = DELETE')
    const rows = db.pragma('integrity_check') as {integrity_check: string}[]
    const answer = rows.map((r) => r.integrity_check).join('; ')
    if (answer !== 'ok')
      throw new BkError(`the restored database fails PRAGMA integrity_check (${answer}); nothing was changed`)
    return answer
  } finally {
    db.close()
  }
}

/** Files of a followed folder copied at once by a restore. */
const FILES_IN_FLIGHT = 8

const SHA256 = /^[0-9a-f]{64}$/

/**
 * Every path of a followed folder's state a plain relative one inside the folder, every content a sha256: checked
 * before anything is written (a log naming '../x' or '/x' wrote outside the stage, where no failure removes it and no
 * commit is needed to land), and by the plan, so --dry-run refuses what the run would.
 */
function checkFolderState(location: string, name: string, state: Map<string, FileEntry>): void {
  for (const [path, e] of state) {
    if (!isPlainRelativePath(path) || !SHA256.test(e.sha256 ?? ''))
      throw new BkError(
        `${join(location, 'files', name, 'log')} names ${JSON.stringify(path)}${isPlainRelativePath(path) ? ` with the content ${JSON.stringify(e.sha256)}` : ''}, not a file inside the folder; the location is damaged (run --verify)`,
      )
  }
}

/**
 * Builds a followed folder's files as of the chosen time in `stage`: each content copied from its object, hashed as
 * it is read and checked against the sha256 it was shipped with (a damaged object refuses the restore, naming it),
 * given its mtime, several at once; then the stage is flushed to disk, as every part must be before the commit
 * renames it into place.
 */
async function stageFolder(
  location: string,
  name: string,
  state: Map<string, FileEntry>,
  stage: string,
): Promise<number> {
  const made = new Set<string>([stage])
  const queue = new WorkQueue(FILES_IN_FLIGHT, FILES_IN_FLIGHT * 4)
  const damaged = (object: string, path: string, what: string) =>
    new BkError(`${object} ${what} (the content of ${path}); the location is damaged (run --verify)`)
  checkFolderState(location, name, state)
  // a failure outside the queue (a folder that cannot be made) waits for the copies under way and starts no more:
  // the caller removes the stage once this throws, and a copy still going would write into it (its rm then failed
  // with ENOTEMPTY, the stage left behind and the real error lost)
  let stopped = false
  try {
    for (const [path, e] of state) {
      const dest = join(stage, path)
      const dir = dirname(dest)
      if (!made.has(dir)) {
        await mkdir(dir, {recursive: true})
        made.add(dir)
      }
      const object = objectPath(location, name, e.sha256!)
      const full = queue.push(async () => {
        if (stopped) return
        // one read of the object: the copy and its hash (the stage, this copy in it, is removed on a refusal)
        const {sha256} = await copyHashed(object, dest).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') throw damaged(object, path, 'is missing')
          if (error.code === 'EISDIR') throw damaged(object, path, 'is not a file')
          throw error
        })
        if (sha256 !== e.sha256) throw damaged(object, path, 'does not match its sha256')
        if (e.mtimeMs !== undefined) await utimes(dest, new Date(e.mtimeMs), new Date(e.mtimeMs))
      })
      if (full) await full
      if (queue.failed) break
    }
  } catch (error) {
    stopped = true
    await queue.settled()
    throw error
  }
  await queue.done()
  await syncTree(stage)
  return state.size
}

const STAGE = '.bk-follow-stage-'

/** A restore from a follow location: plan, recover, run (see WORKFLOW.md). */
export class SqliteFollowRestore {
  private constructor(
    readonly location: string,
    readonly options: SqliteFollowRestoreOptions,
    readonly chosen: Chosen,
  ) {}

  static async open(location: string, options: SqliteFollowRestoreOptions): Promise<SqliteFollowRestore> {
    if ((await readMarker(location)) === undefined)
      throw new BkError(`${location} is not a follow location; check the path`)
    return new SqliteFollowRestore(location, options, await chooseFollowState(location, options.asOf))
  }

  /** Every path the commit replaces: lock them all. */
  get locks(): string[] {
    return [this.options.db, ...(this.options.folders ?? []).map((f) => f.dir)]
  }

  /** Whether something existing is replaced (confirm). */
  async replacing(): Promise<boolean> {
    for (const p of this.locks) if (await stat(p).catch(() => undefined)) return true
    return false
  }

  async plan(): Promise<Plan> {
    const c = this.chosen
    const steps = [
      step('check', join(c.dir, c.snapshot.file), 'sha256 of the snapshot and of every segment replayed'),
      step(
        (await stat(this.options.db).catch(() => undefined)) ? 'replace' : 'create',
        this.options.db,
        `snapshot of ${c.snapshot.time} + ${c.commits} commit(s), up to ${c.restoredTo}; PRAGMA integrity_check`,
        c.snapshot.bytes,
      ),
    ]
    for (const f of this.options.folders ?? []) {
      const files = filesAsOf(await readFilesLogs(this.location, f.name), this.options.asOf?.getTime())
      checkFolderState(this.location, f.name, files)
      steps.push(
        step((await stat(f.dir).catch(() => undefined)) ? 'replace' : 'create', f.dir, `${files.size} file(s)`),
      )
    }
    const asOf = this.options.asOf ? ` as of ${this.options.asOf.toISOString()}` : ''
    return {summary: `restore ${this.options.db} from follow location ${this.location}${asOf}`, steps}
  }

  /** Finish a commit a killed restore left; remove its stages. */
  async recover(): Promise<string[]> {
    const lines = await recoverCommit(journalPathFor(this.options.db))
    for (const target of this.locks) {
      const dir = dirname(target)
      for (const n of await readdir(dir).catch(() => [] as string[])) {
        if (!n.startsWith(`.${basename(target)}${STAGE}`)) continue
        const pid = Number(n.slice(`.${basename(target)}${STAGE}`.length))
        if (pidAlive(pid) && pid !== process.pid) continue
        await rm(join(dir, n), {recursive: true, force: true})
        lines.push(`removed ${join(dir, n)} (the stage of a restore that was killed)`)
      }
    }
    return lines
  }

  async run(): Promise<SqliteFollowRestoreResult> {
    const stageOf = (p: string) => join(dirname(p), `.${basename(p)}${STAGE}${process.pid}`)
    const db = this.options.db
    await mkdir(dirname(db), {recursive: true})
    const dbStage = stageOf(db)
    const parts: {stage?: string | null; target: string}[] = []
    let files = 0
    try {
      const integrity = await buildFollowedDb(this.chosen, dbStage)
      await fsyncPath(dbStage)
      parts.push({stage: dbStage, target: db}, {stage: null, target: `${db}-wal`}, {stage: null, target: `${db}-shm`})
      for (const f of this.options.folders ?? []) {
        const state = filesAsOf(await readFilesLogs(this.location, f.name), this.options.asOf?.getTime())
        const stage = stageOf(f.dir)
        await mkdir(dirname(f.dir), {recursive: true})
        await mkdir(stage)
        files += await stageFolder(this.location, f.name, state, stage)
        parts.push({stage, target: f.dir})
      }
      const time = new Date()
        .toISOString()
        .replace(/[:]/g, '')
        .replace(/\.\d+Z$/, 'Z')
      const {kept} = await commitParts(parts, {
        journal: journalPathFor(db),
        // a name never used yet: a restore finished by recovery in the same second kept its copies under it
        keepAs: (p) => {
          let name = `${p.target}.old-${time}`
          for (let i = 2; existsSync(name); i++) name = `${p.target}.old-${time}-${i}`
          return name
        },
      })
      return {
        source: this.location,
        db,
        generation: this.chosen.generation,
        snapshot: join(this.chosen.dir, this.chosen.snapshot.file),
        commits: this.chosen.commits,
        restoredTo: this.chosen.restoredTo,
        asOf: this.options.asOf?.toISOString(),
        files,
        kept,
        integrity,
      }
    } catch (error) {
      // the failure is what to tell: a stage that cannot be removed now is recover()'s on the next run
      for (const p of [dbStage, ...(this.options.folders ?? []).map((f) => stageOf(f.dir))])
        await rm(p, {recursive: true, force: true}).catch(() => {})
      throw error
    }
  }
}

/** Whether `path` is a follow location (a folder with its marker file): restore commands branch on it. */
export async function isFollowLocation(path: string): Promise<boolean> {
  return stat(join(path, FOLLOW_MARKER)).then(
    (s) => s.isFile(),
    () => false,
  )
}

/**
 * The whole restore from a follow location as core's Operation plus its text, for a plugin's restore command:
 * `if (await isFollowLocation(backup)) { const r = await followRestoreOperation(…); return this.execute(r.operation, r.render) }`.
 */
export async function followRestoreOperation(
  location: string,
  options: SqliteFollowRestoreOptions,
): Promise<{
  operation: Operation<SqliteFollowRestoreResult & {target: string}>
  render: (r: SqliteFollowRestoreResult) => string[]
}> {
  const restore = await SqliteFollowRestore.open(location, options)
  const replacing = await restore.replacing()
  return {
    operation: {
      kind: 'restore',
      plan: async () => {
        const plan = await restore.plan()
        const frontends = frontendSteps(options.frontends ?? [])
        return {...plan, steps: [...frontends.stop, ...plan.steps, ...frontends.start]}
      },
      confirm: () =>
        replacing
          ? {
              question: `Replace ${options.db} (and its files) with the followed state?`,
              action: `replace ${options.db}`,
            }
          : undefined,
      locks: restore.locks,
      recover: () => restore.recover(),
      hooks: {env: {BK_TARGET: options.db, BK_BACKUP: location}},
      act: async (_plan, context) => {
        const {value: r, frontends} = await withFrontendsStopped(options.frontends ?? [], () => restore.run())
        for (const w of frontendLines(frontends).warnings) context.note(w)
        return {...r, frontends, target: r.db}
      },
    },
    render: (r) => [
      `Restored ${r.db} from ${r.source}: generation ${r.generation}, ${r.commits} commit(s) after the snapshot, up to the commit seen at ${r.restoredTo}${r.asOf ? ` (--as-of ${r.asOf})` : ''}; ${r.files} file(s); integrity_check ${r.integrity}.`,
      ...r.kept.map((k) => `The replaced copy is kept at ${k}.`),
      ...frontendLines(r.frontends ?? []).info,
    ],
  }
}
