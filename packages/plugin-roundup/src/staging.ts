/**
 * Output folders appear complete or not at all (core atomicDir); roundup-admin's habit of writing into an
 * existing empty directory is kept.
 */
import {existsSync, readdirSync, statSync} from 'node:fs'
import {resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {atomicDir} from '@bkcli/core/safety'

export function assertEmptyTarget(dest: string): void {
  if (!existsSync(dest)) return
  if (!statSync(dest).isDirectory()) throw new BkError(`${dest} exists and is not a directory; choose a new directory`)
  if (readdirSync(dest).length > 0) throw new BkError(`${dest} is not empty; choose a new or empty directory`)
}

/** atomicDir into `dest`, which may be an existing empty folder (left in place, empty, until the export replaces it). */
export async function writeDirAtomically<T>(destArg: string, build: (stage: string) => Promise<T>): Promise<T> {
  const dest = resolve(destArg)
  assertEmptyTarget(dest)
  return atomicDir(dest, build, {replaceEmpty: true})
}
