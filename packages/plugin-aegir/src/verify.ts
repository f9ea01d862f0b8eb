import {checkArchive, listArchive} from '@bkcli/core/archive'
import {BkError} from '@bkcli/core/errors'
import {pathExists} from '@bkcli/core/fs'
import {sidecarPath, verifyManifest} from '@bkcli/core/manifest'
import {MIN_DUMP_BYTES} from './backup.js'

export interface VerifyBackupResult {
  file: string
  ok: boolean
  entries: number
  bytes: number
  /** Whether bk's sidecar was there and the tarball matched its checksum. */
  checksum: 'ok' | 'changed' | 'no sidecar'
  problems: string[]
}

/**
 * Checks a site backup without unpacking it: the archive reads through (gzip CRC, tar headers), has no unsafe
 * entries, holds settings.php and a plausible database.sql, and matches the checksum of its sidecar.
 */
export async function verifyBackup(file: string): Promise<VerifyBackupResult> {
  if (!(await pathExists(file))) throw new BkError(`${file} not found`)
  const problems: string[] = []
  const check = await checkArchive(file)
  problems.push(...check.unsafe.map((u) => `unsafe entry: ${u}`))
  let dump: number | undefined
  let settings = false
  for await (const entry of listArchive(file)) {
    if (entry.path === 'database.sql' && entry.type === 'file') dump = entry.size
    if (entry.path === 'settings.php') settings = true
  }
  if (dump === undefined) problems.push('no database.sql in the archive')
  else if (dump < MIN_DUMP_BYTES) problems.push(`database.sql is only ${dump} bytes`)
  if (!settings) problems.push('no settings.php in the archive')
  let checksum: VerifyBackupResult['checksum'] = 'no sidecar'
  if (await pathExists(sidecarPath(file))) {
    const v = await verifyManifest(file)
    checksum = v.ok ? 'ok' : 'changed'
    if (!v.ok) problems.push('the tarball does not match the checksum in its sidecar')
  }
  return {file, ok: problems.length === 0, entries: check.entries, bytes: check.bytes, checksum, problems}
}
