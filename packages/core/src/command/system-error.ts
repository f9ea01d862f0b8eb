import {statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

/**
 * An error the operating system raised that no bk module worded itself (a location under a file, a read-only or full
 * file system, a permission): one line naming the path and what to do, instead of Node's
 * `ENOTDIR: not a directory, lstat '…'`. The errno becomes the error's code (`--json`). Undefined for anything else.
 */
export function systemErrorMessage(error: unknown): {code: string; message: string} | undefined {
  const e = error as (NodeJS.ErrnoException & {dest?: unknown}) | undefined
  const code = e?.code
  if (typeof code !== 'string' || typeof e?.syscall !== 'string') return undefined
  const path = typeof e.path === 'string' ? e.path : undefined
  const message = describe(code, e.syscall, path, typeof e.dest === 'string' ? e.dest : undefined)
  return message === undefined ? undefined : {code, message}
}

function describe(code: string, syscall: string, path: string | undefined, dest: string | undefined) {
  switch (code) {
    case 'ENOSPC':
      return `no space left on the device${path ? ` of ${path}` : ''}; free some space and run it again`
    case 'EDQUOT':
      return `disk quota exceeded${path ? ` writing ${path}` : ''}; free some space or raise the quota and run it again`
    case 'EMFILE':
    case 'ENFILE':
      return `too many open files${path ? ` (opening ${path})` : ''}; raise the limit (ulimit -n) and run it again`
    case 'EIO':
      return `input/output error${path ? ` on ${path}` : ''}: the disk or its file system reports a fault; check it (dmesg) before you trust what is on it`
  }
  if (path === undefined) return undefined
  if (syscall.startsWith('spawn')) {
    if (code === 'ENOENT') return `the program ${path} was not found; install it or put it on PATH`
    if (code === 'EACCES') return `the program ${path} is not executable; check its permissions`
    return undefined
  }
  switch (code) {
    case 'ENOTDIR': {
      const file = notAFolder(path)
      if (file === resolve(path)) return `${path} is a file, not a folder; give a folder`
      return file
        ? `${path}: ${file} is a file, not a folder; give a path under a folder`
        : `${path}: part of this path is not a folder; give a path under a folder`
    }
    case 'ENOENT':
      return `${path} does not exist${dest ? ` (moving it to ${dest})` : ''}; check the path`
    case 'EACCES':
    case 'EPERM':
      return `permission denied: ${path} (${syscall}); run bk as a user allowed to use it, or change its permissions`
    case 'EROFS':
      return `${path} is on a read-only file system; give a location bk can write`
    case 'EISDIR':
      return `${path} is a folder where a file was expected; give a file`
    case 'EEXIST':
      return `${dest ?? path} already exists; move it aside or give another path`
    case 'ELOOP':
      return `${path}: too many levels of symbolic links; check where its links point`
    case 'ENAMETOOLONG':
      return `${path}: a name in this path is too long for its file system; give a shorter path`
  }
  return undefined
}

/** `path` or its nearest existing ancestor, when that is not a folder (what ENOTDIR is about). */
function notAFolder(path: string): string | undefined {
  let dir = resolve(path)
  for (;;) {
    try {
      return statSync(dir).isDirectory() ? undefined : dir
    } catch {
      const up = dirname(dir)
      if (up === dir) return undefined
      dir = up
    }
  }
}
