import type {Stats} from 'node:fs'
import {lstatSync, readdirSync} from 'node:fs'
import {lstat, readdir} from 'node:fs/promises'
import {normalize} from 'node:path'
import {refuseNotUtf8} from './names.js'

/** One entry of a walked tree: its relative and absolute path and its lstat. */
export interface WalkEntry {
  /** Relative to the walked root, '/'-separated. */
  path: string
  abs: string
  /** lstat: symlinks are reported, never followed. */
  stat: Stats
}

/** Which entries a walk yields and descends into. */
export interface WalkOptions {
  /** Return false to leave an entry out; for a directory, its contents are left out too. */
  filter?: (path: string, stat: Stats) => boolean
  /**
   * List and lstat with synchronous calls, as rsync and cp do: no thread-pool round trip per folder and per batch.
   * Best when the tree's metadata is cached or the machine is busy; the default (false) keeps many lstats in
   * flight, which helps a cold disk.
   */
  sync?: boolean
  /**
   * A name that is not valid UTF-8 (an old Latin-1 name) is listed with U+FFFD in place of its bytes, a path that
   * names no file (and two such names one path): 'refuse' (the default) throws notUtf8Error (names.ts) naming it;
   * 'skip' leaves it out, for a caller that only tallies or adjusts what it can reach (a size, owners).
   */
  notUtf8?: 'refuse' | 'skip'
}

/** Byte-wise name order (stable across locales), so archives and manifests list files the same way everywhere. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * Every entry below `root` (not `root` itself), depth first, sorted by name, each directory before its contents.
 * Streams: one directory listing per level is held in memory, plus a few listed ahead (LIST_AHEAD).
 */
export async function* walk(root: string, options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const state: WalkState = {options, ahead: new Map()}
  const base = normalize(root)
  const start = base.length > 1 && base.endsWith('/') ? base.slice(0, -1) : base
  try {
    yield* walkDir(start, '', state, listDir(start, options))
  } finally {
    // a consumer that stops early leaves look-ahead listings running: observe them so nothing is unhandled
    for (const listing of state.ahead.values()) listing.catch(() => {})
  }
}

/** `abs`/`name` for a normalized `abs` and a name from readdir: what join gives, without its normalizing pass. */
function childPath(abs: string, name: string): string {
  if (abs === '.') return name
  return abs.endsWith('/') ? abs + name : `${abs}/${name}`
}

/** lstat calls in flight per directory: the thread pool works on a batch while the caller consumes the last. */
const STAT_BATCH = 64

/**
 * Subdirectories listed ahead of the walk (readdir + the first lstat batch), so the walk does not wait for a
 * round trip per folder of a tree of many small folders; bounded for memory (each holds one batch of stats).
 */
const LIST_AHEAD = 8

interface Listing {
  names: string[]
  first: (Stats | undefined)[]
}

interface WalkState {
  options: WalkOptions
  /** Absolute path -> its listing, started ahead of the walk. */
  ahead: Map<string, Promise<Listing>>
}

async function lstatOrGone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (error) {
    // removed between readdir and lstat (a live application's temp file): nothing to report
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function statBatch(abs: string, names: string[], from: number, sync?: boolean): Promise<(Stats | undefined)[]> {
  const batch = names.slice(from, from + STAT_BATCH)
  if (sync) {
    try {
      return Promise.resolve(batch.map((n) => lstatSync(childPath(abs, n), {throwIfNoEntry: false})))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  return Promise.all(batch.map((n) => lstatOrGone(childPath(abs, n))))
}

/** A folder's listing; undefined when the folder is gone (ENOENT). */
async function listedOrGone(listing: Promise<Listing>): Promise<Listing | undefined> {
  try {
    return await listing
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function listDir(abs: string, options: WalkOptions): Promise<Listing> {
  const sync = options.sync
  const names = (sync ? readdirSync(abs) : await readdir(abs)).sort(compareNames)
  if (options.notUtf8 !== 'skip') refuseNotUtf8(abs, names)
  return {names, first: await statBatch(abs, names, 0, sync)}
}

async function* walkDir(
  abs: string,
  rel: string,
  state: WalkState,
  listing: Promise<Listing>,
): AsyncGenerator<WalkEntry> {
  const {names, first} = await listing
  const {options, ahead} = state
  let stats = first
  for (let from = 0; from < names.length; from += STAT_BATCH) {
    const next = from + STAT_BATCH < names.length ? statBatch(abs, names, from + STAT_BATCH, options.sync) : undefined
    next?.catch(() => {}) // observed when awaited
    const entries: WalkEntry[] = []
    for (let i = 0; i < stats.length; i++) {
      const stat = stats[i]
      if (!stat) continue
      const name = names[from + i] as string
      const childRel = rel === '' ? name : `${rel}/${name}`
      if (options.filter && !options.filter(childRel, stat)) continue
      const childAbs = childPath(abs, name)
      entries.push({path: childRel, abs: childAbs, stat})
      if (stat.isDirectory() && !options.sync && ahead.size < LIST_AHEAD) {
        const started = listDir(childAbs, {...options, sync: false})
        started.catch(() => {}) // observed when its folder is walked
        ahead.set(childAbs, started)
      }
    }
    for (const entry of entries) {
      if (!entry.stat.isDirectory()) {
        yield entry
        continue
      }
      const started = ahead.get(entry.abs)
      ahead.delete(entry.abs)
      // listed before it is yielded: a folder removed between its parent's listing and its own (a live
      // application's temp folder) is left out, as a file removed before its lstat is
      const listed = await listedOrGone(started ?? listDir(entry.abs, options))
      if (!listed) continue
      yield entry
      yield* walkDir(entry.abs, entry.path, state, Promise.resolve(listed))
    }
    if (next) stats = await next
  }
}
