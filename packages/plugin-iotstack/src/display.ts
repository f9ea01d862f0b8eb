import {isAbsolute, relative} from 'node:path'

/** A path as the user wants to read it: relative when under the current folder, else absolute. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel
}
