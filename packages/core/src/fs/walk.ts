import type {Stats} from 'node:fs'
import {lstat, readdir} from 'node:fs/promises'
import {join} from 'node:path'

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
}

/** Byte-wise name order (stable across locales), so archives and manifests list files the same way everywhere. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * Every entry below `root` (not `root` itself), depth first, sorted by name, each directory before its contents.
 * Streams: only one directory listing per level is held in memory.
 */
export async function* walk(root: string, options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  yield* walkDir(root, '', options)
}

/** lstat calls in flight per directory: the thread pool works on a batch while the caller consumes the last. */
const STAT_BATCH = 64

async function lstatOrGone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (error) {
    // removed between readdir and lstat (a live application's temp file): nothing to report
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function* walkDir(abs: string, rel: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
  const names = (await readdir(abs)).sort(compareNames)
  const statBatch = (from: number) =>
    Promise.all(names.slice(from, from + STAT_BATCH).map((n) => lstatOrGone(join(abs, n))))
  let next = names.length > 0 ? statBatch(0) : undefined
  for (let from = 0; from < names.length; from += STAT_BATCH) {
    const stats = await (next as Promise<(Stats | undefined)[]>)
    next = from + STAT_BATCH < names.length ? statBatch(from + STAT_BATCH) : undefined
    next?.catch(() => {}) // observed when awaited
    for (let i = 0; i < stats.length; i++) {
      const stat = stats[i]
      if (!stat) continue
      const name = names[from + i] as string
      const childAbs = join(abs, name)
      const childRel = rel === '' ? name : `${rel}/${name}`
      if (options.filter && !options.filter(childRel, stat)) continue
      yield {path: childRel, abs: childAbs, stat}
      if (stat.isDirectory()) yield* walkDir(childAbs, childRel, options)
    }
  }
}
