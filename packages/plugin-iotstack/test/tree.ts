import {createHash} from 'node:crypto'
import {lstatSync, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {join} from 'node:path'

// Tree and archive helpers that need no fixture (crash.test.ts uses them on generated stacks).

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink'
  mode: string
  uid: number
  gid: number
  size?: number
  sha256?: string
  link?: string
}

/** Every entry under `root` (except the top-level names in `exclude`: by default backups/ and restore's kept copies), with owners, modes, contents' sha256 and link targets. */
export function treeOf(root: string, exclude: string[] = ['backups', '.bk-kept']): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {}
  const visit = (rel: string) => {
    const abs = rel ? join(root, rel) : root
    for (const name of readdirSync(abs).sort()) {
      if (!rel && exclude.includes(name)) continue
      const path = rel ? `${rel}/${name}` : name
      const st = lstatSync(join(root, path))
      const base = {mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid}
      if (st.isSymbolicLink()) out[path] = {type: 'symlink', ...base, link: readlinkSync(join(root, path))}
      else if (st.isDirectory()) {
        out[path] = {type: 'dir', ...base}
        visit(path)
      } else {
        const data = readFileSync(join(root, path))
        out[path] = {type: 'file', ...base, size: st.size, sha256: createHash('sha256').update(data).digest('hex')}
      }
    }
  }
  visit('')
  return out
}

export function without<T>(tree: Record<string, T>, ...names: string[]): Record<string, T> {
  const copy = {...tree}
  for (const name of names) delete copy[name]
  return copy
}

/** `date +%u` of now, local time (1..7, Monday = 1). */
export function weekday(date = new Date()): number {
  return date.getDay() === 0 ? 7 : date.getDay()
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}
