// What a follow location holds, read without writing: the newest chain, where its last recorded backup ends,
// and the leftovers of a killed run (unrecorded data files, temp files of dead processes). Shared by the
// follower (resume, recover) and `follow --status`.
import {createHash} from 'node:crypto'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {pidAlive} from '@bkcli/core/safety'
import {readRepoFile} from '../chain-reader.js'
import {type DatLine, datPathOf, listDataFiles, type RepoFile, readDat, selectChain} from '../repository.js'

export interface ChainState {
  head: RepoFile
  files: RepoFile[]
  lines: DatLine[]
  /** end offset of the last recorded backup */
  end: number
  last: RepoFile
  lastLine: DatLine
}

/** The newest chain when it is whole (a full backup, every file recorded in the .dat, contiguous from 0). */
export async function newestChain(location: string): Promise<ChainState | undefined> {
  const files = await listDataFiles(location)
  const chain = selectChain(files)
  const head = chain[0]
  if (!head?.full) return undefined
  const lines = await readDat(datPathOf(location, head))
  if (!lines || lines.length === 0) return undefined
  if (lines.length !== chain.length) return undefined
  let expected = 0
  for (const [i, line] of lines.entries()) {
    if (line.name !== chain[i]!.name || line.start !== expected) return undefined
    expected = line.end
  }
  const last = chain[chain.length - 1]!
  return {head, files: chain, lines, end: expected, last, lastLine: lines[lines.length - 1]!}
}

export interface Leftovers {
  /** data files (and their .index) newer than the last recorded backup of their chain, or a full without .dat */
  unrecorded: string[]
  /** temp files of atomic writes by processes that are gone */
  partials: string[]
}

/** Finds what a killed follower (or backup) left: see Leftovers. Reads only. */
export async function findLeftovers(location: string): Promise<Leftovers> {
  const unrecorded: string[] = []
  const partials: string[] = []
  let names: string[]
  try {
    names = await readdir(location)
  } catch {
    return {unrecorded, partials}
  }
  for (const name of names) {
    const m = /\.bk-partial-(\d+)-/.exec(name)
    if (name.startsWith('.') && m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      partials.push(join(location, name))
    }
  }
  // Walk newest first: every data file not recorded in its chain's .dat is an increment that was never
  // published (the .dat line is the commit point), until a recorded file is met.
  const files = await listDataFiles(location)
  const byChain = new Map<string, Set<string>>()
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i]!
    const chain = selectChain(files.slice(0, i + 1))
    const head = chain[0]
    let recorded = false
    if (head?.full) {
      let set = byChain.get(head.name)
      if (!set) {
        set = new Set(
          ((await readDat(datPathOf(location, head).toString()).catch(() => undefined)) ?? []).map((l) => l.name),
        )
        byChain.set(head.name, set)
      }
      recorded = set.has(f.name)
    }
    if (recorded) break
    unrecorded.push(f.path)
    const index = join(location, `${f.stamp}.index`)
    if (names.includes(`${f.stamp}.index`)) unrecorded.push(index)
    if (f.full && names.includes(`${f.stamp}.dat`)) unrecorded.push(join(location, `${f.stamp}.dat`))
  }
  return {unrecorded, partials}
}

/** md5 of a repository file's uncompressed bytes. */
export async function md5OfRepoFile(file: RepoFile): Promise<{md5: string; bytes: number; tail: Buffer}> {
  const hash = createHash('md5')
  let bytes = 0
  let tail = Buffer.alloc(0)
  for await (const chunk of readRepoFile(file) as AsyncIterable<Buffer>) {
    hash.update(chunk)
    bytes += chunk.length
    tail = Buffer.concat([tail, chunk])
    if (tail.length > 1 << 16) tail = tail.subarray(tail.length - (1 << 16))
  }
  return {md5: hash.digest('hex'), bytes, tail: Buffer.from(tail)}
}

/** The tid of the transaction that ends `tail` (bytes ending on a transaction boundary), if it is in there. */
export function lastTidOfTail(tail: Buffer): Buffer | undefined {
  if (tail.length < 8 + 23) return undefined
  const tlen = Number(tail.readBigUInt64BE(tail.length - 8))
  const at = tail.length - 8 - tlen
  return at >= 0 && tlen >= 23 ? Buffer.from(tail.subarray(at, at + 8)) : undefined
}
