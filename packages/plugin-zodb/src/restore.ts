// Restore a filestorage from a repozo repository as repozo -R does, but safely: the chain is checked whole
// before anything is written; the data goes to a stage of its own beside the target (unique per run) while each
// file's size and md5 and the FileStorage structure are checked; it is fsynced and swapped in with its index by
// core's commitParts (one journal: a crash leaves the old or the new pair, never a mix). The backup's `.index`
// comes along when it matches the restored size; otherwise one is built from the restored bytes.
import {randomBytes} from 'node:crypto'
import {constants, rmSync} from 'node:fs'
import {copyFile, type FileHandle, mkdir, open, rm, stat} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import type {CommitPart} from '@bkcli/core'
import {BkError} from '@bkcli/core/errors'
import {fsyncPath, writeAll} from '@bkcli/core/fs'
import {onInterrupt} from '@bkcli/core/safety'
import {commitParts, journalPathFor} from '@bkcli/core/workflow'
import {readChain} from './chain-reader.js'
import {tidToDate} from './filestorage.js'
import {type AsOfResult, tidAtOrBefore, truncateAsOf} from './follow/as-of.js'
import {FsIndex, IndexFormatError, readIndexPos, writeIndexFile} from './fsindex.js'
import {OFFLOAD_MIN} from './pump.js'
import {RecordParser, StructureError} from './record-parser.js'
import {type CheckedChain, checkChain, indexPathOf, listDataFiles, type RepoFile, selectChain} from './repository.js'
import {stampOf} from './repozo-date.js'

/** Bytes written between two background datasyncs of the staged Data.fs. */
const WRITEBACK = 64 << 20

export interface RestorePlan {
  repository: string
  date?: string
  /** point in time: the chain is cut after the last transaction committed at or before it */
  asOf?: Date
  chain: CheckedChain
  /** with asOf: a note for the plan when the chain may not hold TIME's state exactly */
  warning?: string
}

/**
 * The files to restore as of a point in time: the chain up to the first backup stamped after TIME (it holds
 * every transaction committed until TIME), or the newest chain when none is. The restore then cuts the data
 * after the last transaction at or before TIME.
 */
export async function planRestoreAsOf(repository: string, asOf: Date): Promise<RestorePlan> {
  const files = await listDataFiles(repository)
  if (files.length === 0) throw new BkError(`no backups in ${repository}; check --location`)
  const stamp = stampOf(asOf)
  // a backup stamped in TIME's own second may have been taken before TIME: the first one after that second
  const cover = files.find((f) => f.stamp > stamp)
  const chain = selectChain(files, cover?.stamp)
  const checked = await checkChain(repository, chain, `as of ${asOf.toISOString()}`)
  const head = checked.files[0]!
  const earlier = files.filter((f: RepoFile) => f.stamp < head.stamp)
  const warning =
    head.stamp > stamp && earlier.length > 0
      ? `${asOf.toISOString()} is before the full backup ${head.name}: if a pack preceded it, object revisions the pack removed are not in it (restore ${earlier.at(-1)!.stamp} for the end of the earlier chain)`
      : undefined
  return {repository, asOf, chain: checked, warning}
}

/** Chooses and checks the files to restore as of `date` (a validated repozo date) or the newest. */
export async function planRestore(repository: string, date?: string): Promise<RestorePlan> {
  const files = await listDataFiles(repository)
  if (files.length === 0) throw new BkError(`no backups in ${repository}; check --location`)
  const chain = selectChain(files, date)
  const what = date === undefined ? '' : `at or before ${date} (a partial date means before that period starts)`
  const checked = await checkChain(repository, chain, what || 'to restore')
  return {repository, date, chain: checked}
}

export interface RestoreFileResult {
  output: string
  files: string[]
  bytes: number
  transactions: number
  lastTransaction?: string
  /** the backup's .index, or one built from the restored bytes */
  index: 'restored' | 'rebuilt'
  /** with --as-of: where the data was cut */
  asOf?: AsOfResult & {time: string}
}

/** Writes the planned chain to `output` (see module comment). */
export async function restoreFileStorage(
  plan: RestorePlan,
  output: string,
  options: {onProgress?: (bytes: number) => void} = {},
): Promise<RestoreFileResult> {
  await mkdir(dirname(output), {recursive: true})
  const staged = await stageFileStorage(plan, output, options)
  try {
    await commitParts(staged.parts, {journal: journalPathFor(output)})
  } finally {
    await staged.abort()
  }
  return staged.result
}

export interface StagedFileStorage {
  /** The parts to swap in with core's commitParts: Data.fs, and its index. */
  parts: CommitPart[]
  result: RestoreFileResult
  /** removes the staged files; the live Data.fs was never touched */
  abort(): Promise<void>
}

/** `.<name>.bk-stage-<pid>-<tag>` beside `path`: unique per run, swept by core's sweepLeftovers. */
export function stagePathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.bk-stage-${process.pid}-${randomBytes(4).toString('hex')}`)
}

/**
 * Writes and verifies the restored Data.fs and its index under unique stage names beside `output` without touching
 * it, so several parts of a site (filestorages, blobs) can all be prepared before one commit swaps them in. The
 * index is the backup's when it matches the restored size, else built from the restored bytes while they are
 * written (the old index must never survive beside the new data).
 */
export async function stageFileStorage(
  plan: RestorePlan,
  output: string,
  options: {onProgress?: (bytes: number) => void} = {},
): Promise<StagedFileStorage> {
  const part = stagePathOf(output)
  const indexPart = stagePathOf(`${output}.index`)
  const mode = await stat(output).then(
    (s) => s.mode & 0o7777,
    () => 0o644,
  )
  const unregister = onInterrupt(
    () => {
      rmSync(part, {force: true})
      rmSync(indexPart, {force: true})
    },
    {sweep: true},
  )
  const abort = async () => {
    unregister()
    await rm(part, {force: true})
    await rm(indexPart, {force: true})
  }
  const last = plan.chain.files[plan.chain.files.length - 1]!
  const indexSource = indexPathOf(plan.repository, last)
  // --as-of cuts the data, so the index is built from what is kept
  const indexFits = plan.asOf === undefined && (await indexMatches(indexSource, plan.chain.size))
  const built = indexFits ? undefined : new FsIndex()
  // --as-of: only the records of the transactions kept go into the index — up to the first transaction committed
  // after TIME, where truncateAsOf cuts (the parser has read a transaction's header before its records)
  const limit = plan.asOf ? tidAtOrBefore(plan.asOf) : undefined
  let cutAt: number | undefined
  const parser: RecordParser | undefined = built
    ? new RecordParser({
        start: 0,
        onRecord: (oid, at) => {
          if (limit && cutAt === undefined && Buffer.compare(parser!.lastTransactionTid!, limit) > 0) cutAt = at
          if (cutAt === undefined) built.set(oid, at)
        },
      })
    : undefined
  let fh: FileHandle | undefined
  try {
    fh = await open(part, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
    const out = fh
    // chunks are written as they come (4 MiB from uncompressed files): no gathering copy; the data is pushed to
    // disk every 64 MiB in the background, so the fsync below has little left to do
    let sinceSync = 0
    let syncing: Promise<void> = Promise.resolve()
    const result = await readChain(plan.chain, {
      sink: async (chunk) => {
        parser?.push(chunk)
        await writeAll(out, chunk)
        sinceSync += chunk.length
        if (sinceSync >= WRITEBACK) {
          sinceSync = 0
          syncing = syncing.then(() => out.datasync())
          syncing.catch(() => {}) // awaited below
        }
      },
      onProgress: options.onProgress,
      // bk's own plain files by their sidecar's sha256 (it agrees with the .dat's md5): the check costs less than half
      sidecarDigest: true,
      // the one digest of a large file (~0.27 s per 256 MiB) in a worker, in parallel with the parse and the I/O here
      offloadMin: OFFLOAD_MIN,
    })
    await syncing
    // Without --as-of the index does not depend on the data's last fsync: it is written and fsynced at the same time
    // (the size it is for is checked below, before anything is committed). Both settle before any error goes on, so
    // nothing writes into the stage while abort() removes it.
    const stageIndex = async () => {
      if (built && parser) {
        parser.end()
        await writeIndexFile(indexPart, plan.chain.size, built)
      } else await copyFile(indexSource, indexPart)
      await fsyncPath(indexPart)
    }
    const [synced, indexed] = await Promise.allSettled([out.sync(), plan.asOf ? undefined : stageIndex()])
    if (synced.status === 'rejected') throw synced.reason
    if (indexed.status === 'rejected') throw indexed.reason
    await out.close()
    fh = undefined
    let written = (await stat(part)).size
    if (written !== plan.chain.size) throw new BkError(`wrote ${written} bytes to ${part}, expected ${plan.chain.size}`)
    let cut: RestoreFileResult['asOf']
    if (plan.asOf) {
      cut = {time: plan.asOf.toISOString(), ...(await truncateAsOf(part, plan.asOf))}
      written = cut.end
      // the records indexed all lie before the cut (a cut transaction with no records leaves none to check)
      if (cutAt !== undefined && cutAt < written) {
        throw new BkError(`internal: the index of ${output} was cut at ${cutAt}, the data at ${written}`)
      }
      parser!.end()
      await writeIndexFile(indexPart, written, built!)
      await fsyncPath(indexPart)
    }
    return {
      abort,
      parts: [
        {stage: part, target: output},
        {stage: indexPart, target: `${output}.index`},
      ],
      result: {
        output,
        files: plan.chain.files.map((f) => f.name),
        bytes: written,
        transactions: cut ? cut.kept : result.transactions,
        lastTransaction: cut
          ? cut.lastTransaction
          : result.lastTid
            ? tidToDate(result.lastTid).toISOString()
            : undefined,
        index: built || cut ? 'rebuilt' : 'restored',
        asOf: cut,
      },
    }
  } catch (e) {
    await fh?.close().catch(() => {})
    await abort()
    if (e instanceof StructureError) throw new BkError(`the restored data is not a valid FileStorage: ${e.message}`)
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new BkError(
        `no space left in ${dirname(output)} to stage the restored ${basename(output)} (${plan.chain.size} bytes, ${code}); nothing was changed`,
        {code: 'ENOSPC'},
      )
    }
    throw e
  }
}

async function indexMatches(path: string, size: number): Promise<boolean> {
  try {
    return (await readIndexPos(path)) === size
  } catch (e) {
    if (e instanceof IndexFormatError || (e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw e
  }
}
