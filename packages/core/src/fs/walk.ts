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

async function* walkDir(abs: string, rel: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
  const names = (await readdir(abs)).sort(compareNames)
  for (const name of names) {
    const childAbs = join(abs, name)
    const childRel = rel === '' ? name : `${rel}/${name}`
    let stat: Stats
    try {
      stat = await lstat(childAbs)
    } catch (error) {
      // removed between readdir and lstat (a live application's temp file): nothing to report
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    if (options.filter && !options.filter(childRel, stat)) continue
    yield {path: childRel, abs: childAbs, stat}
    if (stat.isDirectory()) yield* walkDir(childAbs, childRel, options)
  }
}
