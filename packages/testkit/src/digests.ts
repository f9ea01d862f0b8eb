import {createHash} from 'node:crypto'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

/** The sha256 of every file in `dir` whose name ends with `suffix` (a backup location's archives), by name. */
export function archiveDigests(dir: string, suffix = '.tar.gz'): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((n) => n.endsWith(suffix))
      .sort()
      .map((n) => [
        n,
        createHash('sha256')
          .update(readFileSync(join(dir, n)))
          .digest('hex'),
      ]),
  )
}
