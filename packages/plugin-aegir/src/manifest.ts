import {basename} from 'node:path'
import {completeManifest, readManifest, sidecarPath, writeSidecar} from '@bkcli/core/manifest'
import {PLUGIN} from './version.js'

/**
 * bk's record of a provision-format tarball: a sidecar `<tarball>.bk.json` (core's manifest format; the tarball
 * itself stays exactly what provision writes and reads). Its file list is the tarball itself (name, size,
 * sha256), so `verifyManifest` checks it without unpacking.
 */
export interface SidecarInput {
  created: string
  source: string
  description: string
  kind: string
  sha256: string
  bytes: number
  files: {count: number; bytes: number}
  database: {engine: string; name: string; serverVersion?: string}
  extra?: Record<string, unknown>
}

export const sidecarOf = sidecarPath

export async function writeBackupSidecar(file: string, input: SidecarInput): Promise<void> {
  const manifest = completeManifest(
    {
      plugin: PLUGIN,
      application: 'aegir',
      kind: input.kind,
      created: input.created,
      source: input.source,
      description: input.description,
      components: [
        {type: 'files', path: '.', count: input.files.count, bytes: input.files.bytes},
        {
          type: 'database',
          engine: input.database.engine,
          ...(input.database.serverVersion ? {serverVersion: input.database.serverVersion} : {}),
          path: 'database.sql',
          database: input.database.name,
          format: 'sql',
        },
      ],
      ...(input.extra ? {extra: input.extra} : {}),
    },
    [{path: basename(file), size: input.bytes, sha256: input.sha256}],
  )
  await writeSidecar(file, manifest)
}

/** The description and kind of a backup from its sidecar; undefined for a tarball made by provision itself. */
export async function readBackupSidecar(
  file: string,
): Promise<{description?: string; kind?: string; created?: string; sha256?: string} | undefined> {
  try {
    const m = await readManifest(sidecarPath(file))
    const own = m.files.length === 1 && m.files[0]?.path === basename(file) ? m.files[0].sha256 : undefined
    return {description: m.description, kind: m.kind, created: m.created, sha256: own}
  } catch {
    return undefined
  }
}
