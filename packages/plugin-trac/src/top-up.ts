/**
 * The tree copy of a hotcopy runs while the database is copied. What appeared or changed in the env after the walk
 * passed it (an attachment uploaded meanwhile, whose row the database snapshot may hold) is copied afterwards by
 * {@link topUpTree}, so every file the snapshot refers to is in the copy, as when the tree was copied after it.
 */
import {lstatSync, mkdirSync, type Stats} from 'node:fs'
import {chmod, chown, lchown, lutimes, readlink, symlink, utimes} from 'node:fs/promises'
import {copyLiveFile, walk} from '@bkcli/core/fs'

/** What a top-up copied: files new in the copy, and bytes copied (new and replaced files). */
export interface TopUpResult {
  files: number
  bytes: number
  symlinks: number
}

/**
 * Copies into `copy` (a finished tree copy of `src`, not yet published) every regular file of `src` that it lacks
 * or holds with another size or mtime, every symlink it lacks, and the folders these need; `skip` as for the tree
 * copy. Modes and mtimes are kept, owners when running as root, as the tree copy does; a folder whose entries
 * changed gets the source's mtime back. Files removed from `src` meanwhile stay in the copy (a row of the snapshot
 * may still name them). `onFile` is called for each file copied (its path, the copy's path, its size); a promise it
 * returns is waited for before the next file.
 */
export async function topUpTree(
  src: string,
  copy: string,
  skip: (path: string, stat: Stats) => boolean,
  onFile?: (path: string, target: string, size: number) => void | Promise<void>,
): Promise<TopUpResult> {
  const result: TopUpResult = {files: 0, bytes: 0, symlinks: 0}
  const owners = process.getuid?.() === 0
  // folders created or whose entries changed, with the source's mode and times: set again at the end
  const touched = new Map<string, FolderTimes>()
  // the folders from the root down to the entry's parent (the walk lists each folder before its contents): only
  // these, not every folder seen (a Stats each: 84k folders held 50 MB)
  const ancestors: {path: string; times: FolderTimes}[] = [{path: '', times: folderTimes(lstatSync(src))}]
  const parentOf = (path: string) => {
    for (;;) {
      const top = ancestors[ancestors.length - 1] as {path: string; times: FolderTimes}
      if (top.path === '' || (path.startsWith(top.path) && path.charCodeAt(top.path.length) === 47)) return top
      ancestors.pop()
    }
  }
  const touch = (path: string) => {
    const parent = parentOf(path)
    touched.set(parent.path, parent.times)
  }
  for await (const entry of walk(src, {filter: (path, stat) => !skip(path, stat), sync: true})) {
    const st = entry.stat
    const target = `${copy}/${entry.path}`
    const have = lstatSync(target, {throwIfNoEntry: false})
    if (st.isDirectory()) {
      const parent = parentOf(entry.path)
      const times = folderTimes(st)
      ancestors.push({path: entry.path, times})
      if (have?.isDirectory()) continue
      if (have) continue // something else there now: the tree copy's view stays
      mkdirSync(target, {mode: 0o700})
      if (owners) await chown(target, st.uid, st.gid)
      touched.set(entry.path, times)
      touched.set(parent.path, parent.times)
      continue
    }
    if (st.isSymbolicLink()) {
      if (have) continue
      await symlink(await readlink(entry.abs), target)
      if (owners) await lchown(target, st.uid, st.gid)
      await lutimes(target, st.atime, st.mtime)
      result.symlinks++
      touch(entry.path)
      continue
    }
    if (!st.isFile()) continue
    // the tree copy keeps mtimes to the millisecond: the same size and mtime is the file it copied
    if (have?.isFile() && have.size === st.size && Math.abs(have.mtimeMs - st.mtimeMs) < 1) continue
    if (have && !have.isFile()) continue
    const size = await copyLiveFile(entry.abs, target) // less than st.size when the file was cut since the walk
    if (owners) {
      await chown(target, st.uid, st.gid)
      if (st.mode & 0o6000) await chmod(target, st.mode & 0o7777) // chown cleared setuid/setgid
    }
    await utimes(target, st.atime, st.mtime)
    if (!have) {
      result.files++
      touch(entry.path)
    }
    result.bytes += size
    await onFile?.(entry.path, target, size)
  }
  // deepest first: setting a folder's mtime does not change its parent's
  for (const [path, times] of [...touched].sort((a, b) => b[0].length - a[0].length)) {
    const target = path === '' ? copy : `${copy}/${path}`
    await chmod(target, times.mode & 0o7777)
    // seconds, as utimes takes a Date (its milliseconds / 1000): the same times as the Stats' Dates
    await utimes(target, times.atimeMs / 1000, times.mtimeMs / 1000)
  }
  return result
}

/** What a folder gets back at the end of a top-up: its source's mode and times (ms, as its Stats' Dates hold). */
interface FolderTimes {
  mode: number
  atimeMs: number
  mtimeMs: number
}

function folderTimes(st: Stats): FolderTimes {
  return {mode: st.mode, atimeMs: st.atime.getTime(), mtimeMs: st.mtime.getTime()}
}
