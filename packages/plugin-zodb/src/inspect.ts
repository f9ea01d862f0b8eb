import {checkArchive} from '@bkcli/core/archive'
import {isBkError, messageOf} from '@bkcli/core/errors'
import {blobBase, listBlobBackups} from './blobs.js'
import {readChain} from './chain-reader.js'
import {tidToDate} from './filestorage.js'
import {allChains, checkChain, datPathOf, listDataFiles, readDat} from './repository.js'
import {type Mode, repositoryOf, type Site} from './settings.js'

export interface ChainReport {
  full: string
  files: string[]
  /** uncompressed size of the Data.fs this chain restores */
  size?: number
  transactions?: number
  lastTransaction?: string
  ok: boolean
  problem?: string
}

export interface BlobReport {
  name: string
  kind: 'dir' | 'archive'
  ok: boolean
  problem?: string
}

export interface StorageVerifyReport {
  name: string
  repository: string
  chains: ChainReport[]
  blobs: BlobReport[]
  ok: boolean
}

export async function verifySite(site: Site, mode: Mode): Promise<{ok: boolean; storages: StorageVerifyReport[]}> {
  const storages: StorageVerifyReport[] = []
  for (const storage of site.storages) {
    const repo = repositoryOf(storage, mode)
    const chains = site.onlyBlobs ? [] : await verifyRepository(repo.abs)
    const blobs =
      site.backupBlobs && storage.blobStorage ? await verifyBlobs(repo.blobs, blobBase(storage.blobStorage)) : []
    const ok = chains.every((c) => c.ok) && blobs.every((b) => b.ok)
    storages.push({name: storage.name, repository: repo.abs, chains, blobs, ok})
  }
  return {ok: storages.every((s) => s.ok), storages}
}

export async function verifyRepository(repository: string): Promise<ChainReport[]> {
  const files = await listDataFiles(repository)
  const reports: ChainReport[] = []
  for (const chain of allChains(files)) {
    const head = chain[0]!
    const report: ChainReport = {full: head.name, files: chain.map((f) => f.name), ok: false}
    reports.push(report)
    try {
      const checked = await checkChain(repository, chain, `for ${head.name}`)
      const dat = (await readDat(datPathOf(repository, head))) ?? []
      const present = new Set(chain.map((f) => f.name))
      const lost = dat.find((l) => !present.has(l.name))
      if (lost) {
        report.problem = `${lost.name} is listed in ${head.stamp}.dat but missing`
        continue
      }
      const read = await readChain(checked)
      report.size = read.bytes
      report.transactions = read.transactions
      report.lastTransaction = read.lastTid ? tidToDate(read.lastTid).toISOString() : undefined
      report.ok = true
    } catch (e) {
      if (!isBkError(e)) throw e
      report.problem = messageOf(e)
    }
  }
  return reports
}

async function verifyBlobs(location: string, base: string): Promise<BlobReport[]> {
  const reports: BlobReport[] = []
  for (const entry of await listBlobBackups(location, base)) {
    const report: BlobReport = {name: entry.name, kind: entry.kind, ok: true}
    try {
      if (entry.kind === 'archive') {
        const r = await checkArchive(entry.path)
        if (r.unsafe.length) {
          report.ok = false
          report.problem = `unsafe entries: ${r.unsafe.slice(0, 3).join(', ')}`
        }
      }
    } catch (e) {
      if (!isBkError(e)) throw e
      report.ok = false
      report.problem = messageOf(e)
    }
    reports.push(report)
  }
  return reports
}

export function verifyText(result: {ok: boolean; storages: StorageVerifyReport[]}): string[] {
  const lines: string[] = []
  for (const s of result.storages) {
    lines.push(`${s.repository}:`)
    if (s.chains.length === 0) lines.push('  no filestorage backups')
    for (const c of s.chains) {
      lines.push(
        c.ok
          ? `  ok    ${c.full} + ${c.files.length - 1} incremental(s): ${c.size} bytes, ${c.transactions} transactions`
          : `  FAIL  ${c.full}: ${c.problem}`,
      )
    }
    for (const b of s.blobs) lines.push(b.ok ? `  ok    ${b.name}` : `  FAIL  ${b.name}: ${b.problem}`)
  }
  lines.push(result.ok ? 'All backups verified.' : 'Verification FAILED.')
  return lines
}
