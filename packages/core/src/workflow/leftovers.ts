import {readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {dirSize} from '../fs/paths.js'
import {formatBytes} from '../ui/progress.js'

// Temp names bk gives its work beside a target or in a location: `.<base>.bk-<what>-<pid…>`.
const WORK = /^\.(.+)\.bk-(restore|extract|stage|partial)-/

/**
 * Remove what killed runs left beside a target or in a location (stages, extract folders, partial files) and
 * return one line per removal for the user. Call it under the target's (or location's) lock: then nothing of
 * that name is in use. `base` limits it to one target's leftovers (`.<base>.bk-…`); without it every leftover in
 * `dir` goes (a location, whose artifacts' names are not known in advance).
 */
export async function sweepLeftovers(dir: string, base?: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const lines: string[] = []
  for (const name of names.sort()) {
    const match = WORK.exec(name)
    if (!match || (base !== undefined && match[1] !== base)) continue
    const path = join(dir, name)
    const bytes = await dirSize(path).catch(() => 0)
    await rm(path, {recursive: true, force: true})
    lines.push(`removed ${path}, left by an interrupted run (${formatBytes(bytes)})`)
  }
  return lines
}
