// A repozo repository: a directory of UTC-stamped backup files, one `.dat` per chain (full backup + its
// incrementals) and an `.index` per backup. This module reads its listing and `.dat` files and chooses files
// exactly as repozo's find_files does; it never writes.
import {readdir, readFile} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {BkError} from '@bkcli/core/errors'

/** repozo's is_data_file: anchored at the start, so only these four extensions count. */
export const DATA_FILE = /^\d{4}(?:-\d\d){5}\.(?:delta)?fsz?$/

export interface RepoFile {
  name: string
  path: string
  stamp: string
  ext: '.fs' | '.fsz' | '.deltafs' | '.deltafsz'
  full: boolean
  gzip: boolean
}

export interface DatLine {
  /** the path as written (repozo writes its -r argument joined with the name); only its basename is used */
  path: string
  name: string
  start: number
  end: number
  md5: string
}

export function repoFileOf(dir: string, name: string): RepoFile {
  const dot = name.indexOf('.')
  const ext = name.slice(dot) as RepoFile['ext']
  return {
    name,
    path: join(dir, name),
    stamp: name.slice(0, dot),
    ext,
    full: ext === '.fs' || ext === '.fsz',
    gzip: ext.endsWith('z'),
  }
}

/** The data files of a repository, oldest first (names sort by their UTC stamps). */
export async function listDataFiles(dir: string): Promise<RepoFile[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new BkError(`backup location ${dir} does not exist; check --location`)
    if (code === 'ENOTDIR') throw new BkError(`backup location ${dir} is not a directory; check --location`)
    throw e
  }
  return names
    .filter((n) => DATA_FILE.test(n))
    .sort()
    .map((n) => repoFileOf(dir, n))
}

/**
 * repozo's find_files: walking names newest first, take every file whose stamp is `<= when` (a string
 * comparison) until the first full backup; return them oldest first. `when` undefined = the newest chain.
 * The result may start with a delta when no full backup qualifies: callers check `chain[0].full`.
 */
export function selectChain(files: RepoFile[], when?: string): RepoFile[] {
  const needed: RepoFile[] = []
  const newestFirst = [...files].sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
  for (const f of newestFirst) {
    if (when === undefined || f.stamp <= when) {
      needed.push(f)
      if (f.full) break
    }
  }
  return needed.reverse()
}

/** Every chain in the repository (each a full backup followed by the deltas up to the next full), oldest first. */
export function allChains(files: RepoFile[]): RepoFile[][] {
  const chains: RepoFile[][] = []
  let current: RepoFile[] | undefined
  for (const f of files) {
    if (f.full) {
      current = [f]
      chains.push(current)
    } else if (current) current.push(f)
    else {
      // deltas with no full before them: an orphan chain, reported by verify
      current = [f]
      chains.push(current)
    }
  }
  return chains
}

export function datPathOf(dir: string, full: RepoFile): string {
  return join(dir, `${full.stamp}.dat`)
}

export function indexPathOf(dir: string, file: RepoFile): string {
  return join(dir, `${file.stamp}.index`)
}

/** Parses a `.dat`; fields are taken from the right so a repository path holding spaces still parses. */
export function parseDat(text: string, file: string): DatLine[] {
  const lines: DatLine[] = []
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '')
    if (line.trim() === '') continue
    const m = /^(.*\S)\s+(\d+)\s+(\d+)\s+([0-9a-f]{32})\s*$/.exec(line)
    if (!m) throw new BkError(`${file} line ${i + 1} is not '<file> <start> <end> <md5>'; the repository is damaged`)
    const path = m[1]!
    lines.push({path, name: basename(path), start: Number(m[2]), end: Number(m[3]), md5: m[4]!})
  }
  return lines
}

/** Reads a chain's `.dat`; undefined when it does not exist. */
export async function readDat(path: string): Promise<DatLine[] | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  return parseDat(text, path)
}

/**
 * One `.dat` line as repozo prints it: `os.path.join(repository, name)` (Python's join: plain concatenation,
 * no normalisation, no separator added after a trailing '/'), start, end, md5, newline.
 */
export function formatDatLine(repositoryArg: string, name: string, start: number, end: number, md5: string): string {
  const joined =
    repositoryArg === '' ? name : repositoryArg.endsWith('/') ? repositoryArg + name : `${repositoryArg}/${name}`
  return `${joined} ${start} ${end} ${md5}\n`
}

export interface CheckedChain {
  files: RepoFile[]
  /** the .dat line of each file, same order */
  lines: DatLine[]
  /** uncompressed size of the restored file */
  size: number
}

/**
 * Checks, before anything is read or written, that a chain chosen for a restore is whole: it starts with a
 * full backup, every file has its `.dat` line, the ranges are contiguous from 0, and no delta the `.dat`
 * lists up to the chosen point is missing (repozo's -w misses that one).
 */
export async function checkChain(dir: string, chain: RepoFile[], what: string): Promise<CheckedChain> {
  const head = chain[0]
  if (!head) throw new BkError(`no backup in ${dir} ${what}; run 'bk zodb list' to see the backups`)
  if (!head.full) {
    throw new BkError(
      `no full backup in ${dir} ${what} (only incrementals from ${head.name} on); choose a later date or a repository with its full backup`,
    )
  }
  const datPath = datPathOf(dir, head)
  const dat = await readDat(datPath)
  if (!dat)
    throw new BkError(
      `${datPath} is missing, so the backup chain of ${head.name} cannot be checked; run 'bk zodb verify'`,
    )
  const last = chain[chain.length - 1]!
  const byName = new Map(dat.map((l) => [l.name, l]))
  const present = new Set(chain.map((f) => f.name))
  for (const l of dat) {
    const stamp = l.name.slice(0, l.name.indexOf('.'))
    if (stamp <= last.stamp && !present.has(l.name)) {
      throw new BkError(`${join(dir, l.name)} is missing (listed in ${basename(datPath)}); the backup chain is broken`)
    }
  }
  const lines: DatLine[] = []
  let expected = 0
  for (const f of chain) {
    const line = byName.get(f.name)
    if (!line) {
      throw new BkError(
        `${f.path} is not recorded in ${basename(datPath)} (an interrupted backup?); restore an earlier date`,
      )
    }
    if (line.start !== expected) {
      throw new BkError(
        `${f.name} starts at byte ${line.start}, not ${expected} where the previous backup ended; the chain is broken`,
      )
    }
    expected = line.end
    lines.push(line)
  }
  return {files: chain, lines, size: expected}
}
