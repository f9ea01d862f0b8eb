// Blobs for `bk zodb follow --blob-storage`: each chain the follower ships gets a blob backup in the recipe's
// shape, `<blob-location>/<base>.<chain stamp>/<base>/…`, made when the chain starts (every committed blob, hard
// links to the live files where the file system allows: committed blobs are immutable) and then extended with
// the blobs of every shipped transaction before its `.dat` line is written, so a restore of any point of the chain
// (`bk zodb restore --blob-backup-location`, by date or --as-of) finds every blob its records name. Later blobs in
// the folder are harmless extras, as in any blob backup made after its filestorage backup.
import {constants} from 'node:fs'
import {link, mkdir, readdir, readFile, stat, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {copyLiveFile, copyTree} from '@bkcli/core/fs'
import {blobBase, skipTransient} from '../blobs.js'

/** A file in a chain's dated blob folder: it holds the blobs of every shipment of its chain, not of one point. */
export const FOLLOW_MARK = '.bk-follow-chain'

/** ZODB's oid_repr / tid_repr: `0x` and the hex digits without leading zero pairs (`0x00` for zero). */
export function zodbRepr(id: Buffer): string {
  let hex = id.toString('hex').replace(/^0+/, '')
  if (hex.length % 2) hex = `0${hex}`
  return `0x${hex || '00'}`
}

/** Where ZODB keeps the blob of `oid` written by `tid`, relative to the blob directory. */
export function blobPathOf(oid: Buffer, tid: Buffer, layout: string): string {
  const dir = layout === 'lawn' ? zodbRepr(oid) : [...oid].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join('/')
  return `${dir}/${zodbRepr(tid)}.blob`
}

export class BlobShipper {
  readonly base: string
  private layout?: string

  constructor(
    readonly source: string,
    readonly location: string,
  ) {
    this.base = blobBase(source)
  }

  /** The blob directory of a chain's backup. */
  folderOf(chainStamp: string): string {
    return join(this.location, `${this.base}.${chainStamp}`, this.base)
  }

  /** A new chain: every committed blob, hard-linked (copied across file systems), built aside and renamed. */
  async startChain(chainStamp: string): Promise<number> {
    const dated = join(this.location, `${this.base}.${chainStamp}`)
    await mkdir(dated, {recursive: true})
    // says the folder grows with its chain: a restore of any later point of the chain may use it (site.ts)
    await writeFile(join(dated, FOLLOW_MARK), 'blobs of every shipment of this chain (bk zodb follow)\n')
    const r = await copyTree(this.source, this.folderOf(chainStamp), {skip: skipTransient, hardlinkFrom: this.source})
    return r.files
  }

  /** A resumed chain: its folder completed with whatever a stopped or killed run had not placed yet. */
  async resumeChain(chainStamp: string): Promise<number> {
    const folder = this.folderOf(chainStamp)
    if (!(await stat(folder).catch(() => undefined))?.isDirectory()) return this.startChain(chainStamp)
    let added = 0
    const walk = async (rel: string): Promise<void> => {
      for (const entry of await readdir(join(this.source, rel), {withFileTypes: true})) {
        const path = rel ? `${rel}/${entry.name}` : entry.name
        if (skipTransient(path)) continue
        if (entry.isDirectory()) await walk(path)
        else if (entry.isFile() && (await this.place(path, folder))) added++
      }
    }
    await walk('')
    return added
  }

  /** The blobs written by the shipped records (oid, tid): those that exist are placed in the chain's folder. */
  async ship(chainStamp: string, records: [Buffer, Buffer][]): Promise<number> {
    this.layout ??= (await readFile(join(this.source, '.layout'), 'utf8').catch(() => 'bushy')).trim()
    const folder = this.folderOf(chainStamp)
    let placed = 0
    for (const [oid, tid] of records) {
      if (await this.place(blobPathOf(oid, tid, this.layout), folder)) placed++
    }
    return placed
  }

  /** Links (or copies) one file of the blob storage into `folder`; false when absent or already there. */
  private async place(rel: string, folder: string): Promise<boolean> {
    const from = join(this.source, rel)
    const to = join(folder, rel)
    if (!(await stat(from).catch(() => undefined))?.isFile()) return false
    await mkdir(dirname(to), {recursive: true})
    try {
      await link(from, to)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      if (code !== 'EXDEV' && code !== 'EPERM') throw e
      await copyLiveFile(from, to, constants.COPYFILE_EXCL).catch((c: NodeJS.ErrnoException) => {
        if (c.code !== 'EEXIST') throw c
      })
    }
    return true
  }
}
