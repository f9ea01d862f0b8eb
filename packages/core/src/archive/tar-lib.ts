/**
 * node-tar, loaded on first use rather than with every module that may need it: its code takes tens of
 * milliseconds to load, and most commands (a folder copy, a list, a ZODB backup) never read or write a tar stream.
 * Loaded through require so that synchronous callers can use it too; nothing in bk imports tar otherwise, so there
 * is one copy of its classes.
 */
import {createRequire} from 'node:module'
import type * as Tar from 'tar'

let loaded: typeof Tar | undefined

/** The node-tar module. */
export function nodeTar(): typeof Tar {
  loaded ??= createRequire(import.meta.url)('tar') as typeof Tar
  return loaded
}
