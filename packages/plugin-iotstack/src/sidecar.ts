import {lstat} from 'node:fs/promises'
import {BkError} from '@bkcli/core/errors'
import {
  type Manifest,
  type ManifestMeta,
  manifestFiles,
  pluginIdentity,
  readManifest,
  sidecarPath,
  writeSidecar as writeCoreSidecar,
} from '@bkcli/core/manifest'
import type {DumpResult} from './database-dumps.js'

/**
 * IOTstack archives stay plain tar.gz (IOTstack's restore.sh must read them), so bk's manifest goes beside them:
 * `<archive>.bk.json` (core's sidecar), listing every member file's size and sha256 — hashed from the tar stream as
 * the archive was written, whose compressed bytes were checked to decode meanwhile (createArchiveWithManifest) —
 * and, in `extra`, the archive's own sha256 and its members.
 */
export interface IotstackExtra {
  archive: {sha256: string; bytes: number}
  members: string[]
  includesEnv: boolean
}

export type IotstackManifest = Manifest & {extra: IotstackExtra}

/** The manifest's meta for a stack's archive (its files come from createArchiveWithManifest). */
export function sidecarMeta(stack: string, kind: string, created: Date): ManifestMeta {
  return {
    plugin: pluginIdentity(import.meta.url).plugin,
    application: 'iotstack',
    kind,
    created: created.toISOString(),
    source: stack,
    components: [],
    extra: {}, // filled by writeSidecar (keeps the key where buildArchiveManifest put it)
  }
}

/** Completes `manifest` (members, archive sha256, components) and writes it beside `archive`. */
export async function writeSidecar(
  archive: string,
  manifest: Manifest,
  info: {
    members: string[]
    sha256: string
    bytes: number
    dumps: DumpResult[]
  },
): Promise<IotstackManifest> {
  const extra: IotstackExtra = {
    archive: {sha256: info.sha256, bytes: info.bytes},
    members: info.members,
    includesEnv: info.members.includes('.env'),
  }
  manifest.extra = Object.assign(manifest.extra ?? {}, extra)
  // one pass over the files (a compact list: its array is never made), each counted in every member it is under
  const counts = info.members.map(() => ({count: 0, bytes: 0}))
  for (const f of manifestFiles(manifest)) {
    for (const [i, member] of info.members.entries()) {
      if (f.path !== member && !f.path.startsWith(`${member}/`)) continue
      const c = counts[i] as {count: number; bytes: number}
      c.count++
      c.bytes += f.size
    }
  }
  manifest.components = [
    ...info.members.map((member, i) => ({type: 'files', path: member, ...counts[i]})),
    ...info.dumps.map((d) => ({
      type: 'database',
      engine: d.engine,
      path: d.file,
      format: d.engine.startsWith('influx') ? 'influx-backup-tar' : 'sql.gz',
    })),
  ]
  await writeCoreSidecar(archive, manifest)
  return manifest as IotstackManifest
}

/** The sidecar manifest of an archive, or undefined when it has none (an archive made by IOTstack's backup.sh). */
export async function readSidecar(archive: string): Promise<IotstackManifest | undefined> {
  if (
    !(await lstat(sidecarPath(archive)).then(
      () => true,
      () => false,
    ))
  )
    return undefined
  const manifest = await readManifest(archive)
  const extra = manifest.extra as Partial<IotstackExtra> | undefined
  if (manifest.application !== 'iotstack' || typeof extra?.archive?.sha256 !== 'string') {
    throw new BkError(
      `${sidecarPath(archive)} is not a bk iotstack manifest; move it away to use the archive without it`,
    )
  }
  return manifest as IotstackManifest
}
