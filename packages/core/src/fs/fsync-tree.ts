import {opendir} from 'node:fs/promises'
import {join} from 'node:path'
import {fsyncPath} from './paths.js'

/**
 * fsync every file and directory under `root` (and `root` itself), files before the directory holding them, so a
 * staged tree is on disk before it is renamed into place. Many fsyncs are kept in flight at once.
 */
export async function fsyncTree(root: string, concurrency = 32): Promise<void> {
  const pending: Promise<void>[] = []
  const run = async (path: string) => {
    while (pending.length >= concurrency) await Promise.race(pending)
    const p: Promise<void> = fsyncPath(path).finally(() => pending.splice(pending.indexOf(p), 1))
    pending.push(p)
  }
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of await opendir(dir)) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) await visit(path)
      else if (entry.isFile()) await run(path)
    }
    await Promise.all(pending)
    await fsyncPath(dir)
  }
  await visit(root)
}
