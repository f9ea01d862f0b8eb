import {basename, resolve} from 'node:path'
import {readBackupSidecar} from './manifest.js'
import {REASON_ON_REQUEST, siteCatalog} from './naming.js'

export interface BackupListing {
  name: string
  path: string
  /** UTC ISO-8601 of the moment in the name (provision's local clock). */
  date: string
  /** "YYYY-MM-DD HH:MM:SS" in local time, as the name has it. */
  localTime: string
  description: string
  kind?: string
  size: number
}

/** A site's backups in a location, newest first; a tarball provision made itself reads "Generated on request". */
export async function listBackups(location: string, siteDirOrUri: string): Promise<BackupListing[]> {
  const uri = basename(resolve(siteDirOrUri))
  const entries = await siteCatalog(location, uri).list()
  const out: BackupListing[] = []
  for (const e of entries) {
    if (e.type !== 'file') continue
    const sidecar = await readBackupSidecar(e.path)
    out.push({
      name: e.name,
      path: e.path,
      date: e.date.toISOString(),
      localTime: localTime(e.date),
      description: sidecar?.description ?? e.description ?? REASON_ON_REQUEST,
      kind: sidecar?.kind ?? e.kind,
      size: e.size,
    })
  }
  return out
}

export function localTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`
}

/** Aegir's backup list line: "Date/time - Reason". */
export function listingLine(entry: BackupListing): string {
  return `${entry.localTime} - ${entry.description}`
}
