import {createHash} from 'node:crypto'
import {stat} from 'node:fs/promises'
import type {ReadEntry} from 'tar'
import {stepProgress} from '../ui/progress.js'
import {feedTar} from './drive.js'
import {acceptEmptyArchive} from './empty.js'
import {EntryChecker, type EntryCheckOptions, skippedEntry, UnsafeEntry} from './entry-check.js'
import {readError} from './errors.js'
import {nodeTar} from './tar-lib.js'
import type {ArchiveEntry, CheckResult} from './types.js'

export function entryType(tarType: string): ArchiveEntry['type'] {
  switch (tarType) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file'
    case 'Directory':
    case 'GNUDumpDir':
      return 'directory'
    case 'SymbolicLink':
      return 'symlink'
    case 'Link':
      return 'hardlink'
    default:
      return 'other'
  }
}

/** A part of a '/'-separated name that is empty ('//', a leading or trailing '/', '') or '.'. */
const HAS_EMPTY_OR_DOT_PART = /(?:^|\/)\.?(?:\/|$)/

/** Archive path without './' prefixes or trailing '/' ('.' for the root entry). Not a safety check. */
export function normalizeName(path: string): string {
  // most names have no empty or '.' part: the name itself (no split and join per member of a large archive)
  if (!HAS_EMPTY_OR_DOT_PART.test(path)) return path
  const parts = path.split('/').filter((p) => p !== '' && p !== '.')
  return parts.length === 0 ? '.' : parts.join('/')
}

export function describeEntry(entry: ReadEntry): ArchiveEntry {
  const out: ArchiveEntry = {
    path: normalizeName(entry.path),
    type: entryType(entry.type),
    tarType: entry.type,
    size: entry.size ?? 0,
    mode: (entry.mode ?? 0) & 0o7777,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    mtime: entry.mtime ?? new Date(0),
  }
  if (entry.linkpath) out.linkpath = entry.linkpath
  return out
}

/**
 * Walk the members of an archive in order. `onEntry` gets each entry and may attach 'data'/'end' listeners (the
 * entry is resumed after the callback returns). Calling `stop()` ends the reading early (after the current chunk).
 */
export async function scanArchive(
  file: string,
  onEntry: (entry: ReadEntry, stop: () => void) => void,
  onRaw?: (chunk: Buffer) => void,
  onSkipped?: (refusal: UnsafeEntry, stop: () => void) => void,
): Promise<void> {
  const stop = new AbortController()
  const parser = acceptEmptyArchive(
    new (nodeTar().Parser)({
      strict: true,
      onReadEntry: (entry) => {
        if (stop.signal.aborted) return entry.resume()
        onEntry(entry, () => stop.abort())
        entry.resume()
      },
    }),
  )
  // a type node-tar does not know is skipped before onReadEntry: a check of every entry would miss it
  if (onSkipped)
    parser.on('ignoredEntry', (entry: ReadEntry) => {
      const refusal = stop.signal.aborted ? undefined : skippedEntry(entry)
      if (refusal) onSkipped(refusal, () => stop.abort())
    })
  try {
    await feedTar(file, parser, stop.signal, onRaw)
  } catch (error) {
    throw readError(file, error)
  }
}

/** The members of an archive, in order, streamed (the archive is read once, with backpressure). */
export async function* listArchive(file: string): AsyncGenerator<ArchiveEntry> {
  const queue: ArchiveEntry[] = []
  let wake: (() => void) | undefined
  let finished = false
  let failure: unknown
  let resumeProducer: (() => void) | undefined
  const HIGH = 1024
  const parser = acceptEmptyArchive(
    new (nodeTar().Parser)({
      strict: true,
      onReadEntry: (entry) => {
        queue.push(describeEntry(entry))
        wake?.()
        if (queue.length >= HIGH) {
          // hold the parser on this entry until the consumer catches up
          entry.pause()
          resumeProducer = () => entry.resume()
        } else entry.resume()
      },
    }),
  )
  const run = feedTar(file, parser).then(
    () => {
      finished = true
      wake?.()
    },
    (error) => {
      failure = readError(file, error)
      finished = true
      wake?.()
    },
  )
  try {
    while (true) {
      const next = queue.shift()
      if (next) {
        if (queue.length < HIGH / 2 && resumeProducer) {
          const r = resumeProducer
          resumeProducer = undefined
          r()
        }
        yield next
        continue
      }
      if (finished) break
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      wake = undefined
    }
    if (failure) throw failure
  } finally {
    if (!finished) {
      parser.abort(new Error('listing stopped'))
      resumeProducer?.()
    }
    await run.catch(() => {})
  }
}

/** How far `readMember` reads and how big a member it accepts. */
export interface ReadMemberOptions {
  /** Only look at the first member (a bk archive's manifest): never reads a big archive through. */
  firstOnly?: boolean
  /** Refuse members bigger than this (default 64 MiB). */
  maxBytes?: number
}

/** Content of one (small) member, or undefined when the archive has no such member. Stops reading once found. */
export async function readArchiveMember(
  file: string,
  name: string,
  options: ReadMemberOptions = {},
): Promise<Buffer | undefined> {
  const wanted = normalizeName(name)
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024
  let found: Promise<Buffer> | undefined
  let first = true
  await scanArchive(file, (entry, stop) => {
    const isFirst = first
    first = false
    if (options.firstOnly && !isFirst) return stop()
    if (entryType(entry.type) !== 'file' || normalizeName(entry.path) !== wanted) {
      if (options.firstOnly) stop()
      return
    }
    if ((entry.size ?? 0) > maxBytes) {
      stop()
      found = Promise.reject(readError(file, new Error(`member ${wanted} is larger than ${maxBytes} bytes`)))
      return
    }
    const chunks: Buffer[] = []
    found = new Promise<Buffer>((resolve) => {
      entry.on('data', (chunk: Buffer) => chunks.push(chunk))
      entry.on('end', () => {
        stop()
        resolve(Buffer.concat(chunks))
      })
    })
  })
  return found
}

/** sha256 of every regular file member (hard links get their target's digest), streamed. */
export async function hashArchiveMembers(
  file: string,
  onFile: (path: string, size: number, sha256: string) => void,
  onOther?: (entry: ArchiveEntry) => void,
): Promise<void> {
  const digests = new Map<string, {size: number; sha256: string}>()
  const pending: Promise<void>[] = []
  await scanArchive(file, (entry) => {
    const path = normalizeName(entry.path)
    const type = entryType(entry.type)
    if (type === 'file') {
      const hash = createHash('sha256')
      let size = 0
      entry.on('data', (chunk: Buffer) => {
        size += chunk.length
        hash.update(chunk)
      })
      pending.push(
        new Promise<void>((resolve) =>
          entry.on('end', () => {
            const sha256 = hash.digest('hex')
            digests.set(path, {size, sha256})
            onFile(path, size, sha256)
            resolve()
          }),
        ),
      )
    } else if (type === 'hardlink' && entry.linkpath) {
      const target = digests.get(normalizeName(entry.linkpath))
      if (target) {
        digests.set(path, target)
        onFile(path, target.size, target.sha256)
      } else onOther?.(describeEntry(entry))
    } else onOther?.(describeEntry(entry))
  })
  await Promise.all(pending)
}

/** What checkArchive also reports on its one read. */
export interface CheckArchiveOptions {
  /** Called with each member as it is read (a listing in the same pass: no second decompression for it). */
  onEntry?: (entry: ArchiveEntry) => void
}

/**
 * Read the whole archive through (decompression checksums, tar headers) without writing anything, and list the
 * entries extractArchive would refuse. One read: the file's sha256 and (with `onEntry`) its listing come with it.
 */
export async function checkArchive(
  file: string,
  options: EntryCheckOptions & CheckArchiveOptions = {},
): Promise<CheckResult> {
  const checker = new EntryChecker(undefined, 0, options)
  const result: CheckResult = {entries: 0, bytes: 0, unsafe: [], sha256: ''}
  const hash = createHash('sha256')
  const step = stepProgress('checking archive', {total: (await stat(file)).size})
  let read = 0
  await scanArchive(
    file,
    (entry) => {
      result.entries++
      result.bytes += entry.size ?? 0
      options.onEntry?.(describeEntry(entry))
      try {
        checker.check(entry)
      } catch (error) {
        if (!(error instanceof UnsafeEntry)) throw error
        result.unsafe.push(error.message)
      }
    },
    (chunk) => {
      hash.update(chunk)
      read += chunk.length
      step.update(read)
    },
    (refusal) => {
      result.entries++
      result.unsafe.push(refusal.message)
    },
  )
  step.done()
  result.sha256 = hash.digest('hex')
  for (const bad of checker.finish()) if (!result.unsafe.includes(bad.message)) result.unsafe.push(bad.message)
  return result
}
