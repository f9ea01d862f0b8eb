import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import type {ArchiveResult} from '@bkcli/core/archive'
import {Catalog} from '@bkcli/core/catalog'
import {createArchiveWithManifest} from '@bkcli/core/manifest'
import type {DumpResult} from './database-dumps.js'
import {DATED_NAMING, type StackCompression} from './naming.js'
import {sidecarMeta, writeSidecar} from './sidecar.js'
import type {StackPaths} from './stack.js'

/**
 * Archives the stack's members (`services`, `volumes`, `.env`…, relative names like IOTstack's) into `file`:
 * plain tar.gz, owners/modes/symlinks/empty folders kept, 0600, written atomically, with its sidecar manifest.
 */
export async function archiveMembersTo(
  paths: StackPaths,
  file: string,
  info: {
    members: string[]
    kind: string
    dumps?: DumpResult[]
    overwrite?: boolean
    now?: Date
    /** Needed when `file` is a stage name (no .tar.gz/.tar.zst suffix to tell). */
    compression?: StackCompression
  },
): Promise<ArchiveResult> {
  const created = info.now ?? new Date()
  // the members are hashed from the tar stream as it is written (one read of the stack, no read-back of the archive)
  const {manifest, ...archive} = await createArchiveWithManifest({
    cwd: paths.dir,
    ...(info.compression ? {compression: info.compression} : {}),
    entries: info.members,
    file,
    secret: true,
    mode: 0o600,
    overwrite: info.overwrite,
    meta: sidecarMeta(paths.dir, info.kind, created),
  })
  await writeSidecar(file, manifest, {
    members: info.members,
    sha256: archive.sha256,
    bytes: archive.bytes,
    dumps: info.dumps ?? [],
  })
  return archive
}

/** A dated archive in `folder` (restore's safety copy goes to backups/pre-restore/). */
export async function archiveStackMembers(
  paths: StackPaths,
  info: {folder: string; kind: string; now: Date; members: string[]},
): Promise<ArchiveResult & {path: string}> {
  await mkdir(info.folder, {recursive: true, mode: 0o700})
  const path = join(info.folder, await new Catalog(info.folder, DATED_NAMING, {manifests: false}).nextName(info.now))
  const archive = await archiveMembersTo(paths, path, info)
  return {...archive, path}
}
