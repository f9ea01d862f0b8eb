// Restore a filestorage from a repozo repository as repozo -R does, but safely: the chain is checked whole
// before anything is written; the data goes to `<out>.part` while each file's size and md5 and the
// FileStorage structure are checked; it is fsynced and renamed over the old file, which stays untouched until
// that rename. The backup's `.index` comes along when it matches the restored size; otherwise a stale
// `<out>.index` is removed so ZODB rebuilds it instead of trusting the old database's.
import {constants, rmSync} from 'node:fs'
import {copyFile, mkdir, open, rename, rm, stat} from 'node:fs/promises'
import {dirname} from 'node:path'
import {BkError, fsyncDir, onInterrupt} from '@bkcli/core'
import {readChain} from './chain-reader.js'
import {tidToDate} from './filestorage.js'
import {IndexFormatError, readIndexPos} from './fsindex.js'
import {type CheckedChain, checkChain, indexPathOf, listDataFiles, selectChain} from './repository.js'

export interface RestorePlan {
  repository: string
  date?: string
  chain: CheckedChain
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
  index: 'restored' | 'rebuilt-on-open'
}

/** Writes the planned chain to `output` (see module comment). */
export async function restoreFileStorage(
  plan: RestorePlan,
  output: string,
  options: {onProgress?: (bytes: number) => void} = {},
): Promise<RestoreFileResult> {
  const staged = await stageFileStorage(plan, output, options)
  return staged.commit()
}

export interface StagedFileStorage {
  /** renames the verified `<out>.part` (and its index) into place */
  commit(): Promise<RestoreFileResult>
  /** removes the staged files; the live Data.fs was never touched */
  abort(): Promise<void>
}

/**
 * Writes and verifies `<out>.part` (and `<out>.index.part`) without touching `output`, so several parts of a
 * site (filestorages, blobs) can all be prepared before any of them replaces the live copy.
 */
export async function stageFileStorage(
  plan: RestorePlan,
  output: string,
  options: {onProgress?: (bytes: number) => void} = {},
): Promise<StagedFileStorage> {
  const part = `${output}.part`
  const indexPart = `${output}.index.part`
  await mkdir(dirname(output), {recursive: true})
  const mode = await stat(output).then(
    (s) => s.mode & 0o7777,
    () => 0o644,
  )
  const unregister = onInterrupt(() => {
    rmSync(part, {force: true})
    rmSync(indexPart, {force: true})
  })
  const abort = async () => {
    unregister()
    await rm(part, {force: true})
    await rm(indexPart, {force: true})
  }
  const fh = await open(part, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode)
  try {
    let pending: Buffer[] = []
    let pendingBytes = 0
    const flush = async () => {
      if (pendingBytes === 0) return
      await fh.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes))
      pending = []
      pendingBytes = 0
    }
    const result = await readChain(plan.chain, {
      sink: async (chunk) => {
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes >= 4 << 20) await flush()
      },
      onProgress: options.onProgress,
    })
    await flush()
    await fh.sync()
    await fh.close()
    const written = (await stat(part)).size
    if (written !== plan.chain.size) throw new BkError(`wrote ${written} bytes to ${part}, expected ${plan.chain.size}`)

    const last = plan.chain.files[plan.chain.files.length - 1]!
    const indexSource = indexPathOf(plan.repository, last)
    let index: RestoreFileResult['index'] = 'rebuilt-on-open'
    if (await indexMatches(indexSource, written)) {
      await copyFile(indexSource, indexPart)
      const ih = await open(indexPart, 'r+')
      await ih.sync()
      await ih.close()
      index = 'restored'
    }
    return {
      abort,
      async commit() {
        try {
          // The old index must not survive beside the new data; it is derived data, ZODB rebuilds it.
          await rm(`${output}.index`, {force: true})
          await rename(part, output)
          if (index === 'restored') await rename(indexPart, `${output}.index`)
          await fsyncDir(dirname(output))
        } finally {
          await abort()
        }
        return {
          output,
          files: plan.chain.files.map((f) => f.name),
          bytes: written,
          transactions: result.transactions,
          lastTransaction: result.lastTid ? tidToDate(result.lastTid).toISOString() : undefined,
          index,
        }
      },
    }
  } catch (e) {
    await fh.close().catch(() => {})
    await abort()
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
