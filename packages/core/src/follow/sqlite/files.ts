// The application's folders of files (Trac attachments, Roundup's db/files), shipped as they appear:
//
//   <location>/files/<name>/objects/<sha256>     each content once
//   <location>/files/<name>/log/<seq>.json       one scan's changes: {time, entries: [{path, sha256?, bytes, deleted?}]}
//
// A scan compares the folder with what the log says was shipped (path → size and mtime); each new or changed
// file is copied (atomically, hashed while copied: a file changing under the copy is caught on the next scan), a
// vanished one is logged as deleted. The log file is the commit point; objects no log names are removed by recover.
import {mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {copyLiveHashed} from '../../fs/copy-file.js'
import {fsyncDir, fsyncPath} from '../../fs/paths.js'
import {walk} from '../../fs/walk.js'
import {WorkQueue} from '../../fs/work-queue.js'
import {atomicFile} from '../../safety/index.js'
import {seqName} from './location.js'

/** A folder of the application followed beside the database: its name in the location and where it is. */
export interface FollowedFolder {
  /** name under <location>/files (e.g. 'attachments') */
  name: string
  /** the folder (absolute) */
  dir: string
}

/** One logged change of a followed folder. */
export interface FileEntry {
  path: string
  sha256?: string
  bytes: number
  mtimeMs?: number
  deleted?: boolean
}

/** One scan's log. */
export interface FilesLog {
  seq: number
  time: string
  entries: FileEntry[]
}

/** Every log of a followed folder, in order. */
export async function readFilesLogs(location: string, name: string): Promise<FilesLog[]> {
  const dir = join(location, 'files', name, 'log')
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d{8}\.json$/.test(n)).sort()
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as FilesLog))
}

/** The state of a folder as of a time (all logs when undefined): path → entry (deleted ones left out). */
export function filesAsOf(logs: FilesLog[], asOf?: number): Map<string, FileEntry> {
  const state = new Map<string, FileEntry>()
  for (const log of logs) {
    if (asOf !== undefined && Date.parse(log.time) > asOf) break
    for (const e of log.entries) {
      if (e.deleted) state.delete(e.path)
      else state.set(e.path, e)
    }
  }
  return state
}

/** Files of a followed folder copied at once by a scan. */
const FILES_IN_FLIGHT = 8

/** The object file of a content. */
export function objectPath(location: string, name: string, sha256: string): string {
  return join(location, 'files', name, 'objects', sha256)
}

export class FilesFollower {
  private readonly known = new Map<string, Map<string, FileEntry>>()
  private readonly seq = new Map<string, number>()
  /** Copies into the objects so far: each its own temporary name (several run at once). */
  private incoming = 0

  constructor(
    private readonly location: string,
    private readonly folders: FollowedFolder[],
  ) {}

  /** Reads what was shipped so far. */
  async start(): Promise<void> {
    for (const f of this.folders) {
      const logs = await readFilesLogs(this.location, f.name)
      this.known.set(f.name, filesAsOf(logs))
      this.seq.set(f.name, (logs.at(-1)?.seq ?? -1) + 1)
    }
  }

  /** Removes temp files and objects no log names (a scan killed before its log was written). */
  async recover(): Promise<string[]> {
    const lines: string[] = []
    for (const f of this.folders) {
      const logs = await readFilesLogs(this.location, f.name)
      const named = new Set(logs.flatMap((l) => l.entries.map((e) => e.sha256)))
      for (const sub of ['objects', 'log']) {
        const dir = join(this.location, 'files', f.name, sub)
        for (const n of await readdir(dir).catch(() => [] as string[])) {
          if (n.includes('.bk-partial-') || (sub === 'objects' && !named.has(n))) {
            await rm(join(dir, n), {force: true})
            lines.push(`removed ${join(dir, n)} (left by a follow run that was killed)`)
          }
        }
      }
    }
    return lines
  }

  /** Ship what changed in each folder; one shipment per folder that changed. */
  async scan(): Promise<
    {kind: 'files'; generation: string; file: string; bytes: number; commits: number; time: string; lagMs: number}[]
  > {
    const out = []
    for (const f of this.folders) {
      const started = Date.now()
      const known = this.known.get(f.name) ?? new Map<string, FileEntry>()
      const seen = new Set<string>()
      const entries: FileEntry[] = []
      const exists = await stat(f.dir).catch(() => undefined)
      if (exists?.isDirectory()) {
        // the changed files copied several at once (a first scan copies the whole folder), their entries then
        // taken in the walk's order: the log lists them as a one-at-a-time scan did
        const changed: {path: string; mtimeMs: number; k?: FileEntry; shipped?: {sha256: string; bytes: number}}[] = []
        const queue = new WorkQueue(FILES_IN_FLIGHT, FILES_IN_FLIGHT * 4)
        try {
          for await (const e of walk(f.dir)) {
            if (!e.stat.isFile()) continue
            seen.add(e.path)
            const k = known.get(e.path)
            if (k && k.bytes === e.stat.size && k.mtimeMs === e.stat.mtimeMs) continue
            const c: (typeof changed)[number] = {path: e.path, mtimeMs: e.stat.mtimeMs, k}
            changed.push(c)
            const full = queue.push(async () => {
              c.shipped = await this.copyIn(f, e.abs)
            })
            if (full) await full
            if (queue.failed) break
          }
        } catch (error) {
          // no copy left writing into the objects once the failure is told
          await queue.settled()
          throw error
        }
        await queue.done()
        for (const {path, mtimeMs, k, shipped} of changed) {
          if (!shipped) continue // vanished meanwhile
          if (k && k.sha256 === shipped.sha256) {
            known.set(path, {...k, mtimeMs})
            continue
          }
          entries.push({path, sha256: shipped.sha256, bytes: shipped.bytes, mtimeMs})
        }
      }
      for (const path of known.keys()) if (!seen.has(path)) entries.push({path, bytes: 0, deleted: true})
      if (entries.length === 0) continue
      const seq = this.seq.get(f.name) ?? 0
      const time = new Date().toISOString()
      await fsyncDir(join(this.location, 'files', f.name, 'objects')).catch(() => {})
      const logDir = join(this.location, 'files', f.name, 'log')
      await mkdir(logDir, {recursive: true})
      const file = join(logDir, `${seqName(seq)}.json`)
      await atomicFile(file, (tmp) => writeFile(tmp, `${JSON.stringify({seq, time, entries})}\n`))
      this.seq.set(f.name, seq + 1)
      for (const e of entries) {
        if (e.deleted) known.delete(e.path)
        else known.set(e.path, e)
      }
      this.known.set(f.name, known)
      out.push({
        kind: 'files' as const,
        generation: f.name,
        file,
        bytes: entries.reduce((a, e) => a + e.bytes, 0),
        commits: entries.length,
        time,
        lagMs: Date.now() - started,
      })
    }
    return out
  }

  /** Copy a file into the objects (the copy hashed); undefined when it vanished. */
  private async copyIn(f: FollowedFolder, abs: string): Promise<{sha256: string; bytes: number} | undefined> {
    const objects = join(this.location, 'files', f.name, 'objects')
    await mkdir(objects, {recursive: true})
    const tmp = join(objects, `.incoming.bk-partial-${process.pid}-${this.incoming++}`)
    let copied: {sha256: string; bytes: number}
    try {
      // a live file (it may grow, shrink or be renamed under the copy): copyLiveFile's copy, which cannot hang,
      // then the copy hashed: the hash is of the bytes copied, whatever the file does meanwhile
      copied = await copyLiveHashed(abs, tmp)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    const {sha256, bytes} = copied
    const dest = objectPath(this.location, f.name, sha256)
    if (await stat(dest).catch(() => undefined)) await rm(tmp, {force: true})
    else {
      await fsyncPath(tmp)
      await rename(tmp, dest)
    }
    return {sha256, bytes}
  }
}
