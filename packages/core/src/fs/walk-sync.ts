import {lstatSync, readdirSync} from 'node:fs'
import {normalize} from 'node:path'
import {refuseNotUtf8} from './names.js'
import {compareNames, type WalkEntry} from './walk.js'

/**
 * walk()'s order and entries (depth first, sorted by name, each directory before its contents, lstat, entries gone
 * since the listing left out) with synchronous calls and a plain generator: no promise per entry and per level of
 * depth, which an async generator pays (a blob storage is 8 folders deep, one file per leaf). For callers that
 * work synchronously on cached metadata (copyTree); they must yield to the event loop themselves.
 */
export function* walkSync(
  root: string,
  filter?: (path: string, stat: WalkEntry['stat']) => boolean,
): Generator<WalkEntry> {
  const base = normalize(root)
  const start = base.length > 1 && base.endsWith('/') ? base.slice(0, -1) : base
  // one listing per level of depth: [folder's absolute path, its relative path, its names, the next index]
  const stack: {abs: string; rel: string; names: string[]; at: number}[] = [
    {abs: start, rel: '', names: sortedNames(start), at: 0},
  ]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    if (top.at >= top.names.length) {
      stack.pop()
      continue
    }
    const name = top.names[top.at++]!
    const abs = top.abs === '.' ? name : top.abs.endsWith('/') ? top.abs + name : `${top.abs}/${name}`
    const stat = lstatSync(abs, {throwIfNoEntry: false})
    if (!stat) {
      continue // removed between readdir and lstat (a live application's temp file)
    }
    const path = top.rel === '' ? name : `${top.rel}/${name}`
    if (filter && !filter(path, stat)) continue
    yield {path, abs, stat}
    if (stat.isDirectory()) stack.push({abs, rel: path, names: sortedNames(abs), at: 0})
  }
}

/** Printable ASCII names sort the same by UTF-16 units as by UTF-8 bytes: then no buffer per comparison. */
const PRINTABLE_ASCII = /^[ -~]*$/

function sortedNames(dir: string): string[] {
  const names = readdirSync(dir)
  // a name that is not valid UTF-8 is listed with U+FFFD in place of its bytes: refused (names.ts)
  refuseNotUtf8(dir, names)
  return names.every((n) => PRINTABLE_ASCII.test(n)) ? names.sort() : names.sort(compareNames)
}
