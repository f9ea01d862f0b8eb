import {rmSync} from 'node:fs'
import {compressStream} from '../archive/compression.js'
import {archiveMode, checkCreate, createError, memberStream, writeConcatenated, writeTar} from '../archive/create.js'
import type {ArchiveResult, CreateArchiveOptions} from '../archive/types.js'
import {atomicFile} from '../safety/atomic.js'
import {onInterrupt} from '../safety/interrupt.js'
import {manifestForArchive} from './build.js'
import {manifestText} from './io.js'
import {MANIFEST_NAME, type Manifest, type ManifestMeta} from './types.js'

/** Options of an archive that carries its own manifest as its first member. */
export interface BkArchiveOptions extends CreateArchiveOptions {
  meta: ManifestMeta
  /**
   * Called with the manifest once every member is hashed, before it is written: e.g. to fill in a files
   * component's count and bytes from the listed files (createBkArchive only).
   */
  complete?: (manifest: Manifest) => void
}

/**
 * A plain archive (no manifest inside: e.g. IOTstack's tar.gz, which IOTstack's restore.sh must read) and the manifest
 * of its members, for a sidecar. The members are hashed from the tar stream as it is written, so the source is read
 * once and the manifest lists exactly the archived bytes; the compressed output is checked while it is written
 * (its gzip/zstd checksums, in another process), which proves the file reads back without reading it again.
 * A root-level bk-manifest.json of the source is archived but not listed (as buildArchiveManifest). Atomic like
 * createArchive.
 */
export async function createArchiveWithManifest(
  options: BkArchiveOptions,
): Promise<ArchiveResult & {manifest: Manifest}> {
  const compression = await checkCreate(options)
  try {
    return await atomicFile(
      options.file,
      async (tmp) => {
        const collector = manifestForArchive(options.meta)
        const written = await writeTar(tmp, options, compression, {
          tap: (chunk) => collector.write(chunk),
          members: collector.members,
          verify: true,
        })
        const manifest = await collector.finish()
        return {file: options.file, ...written, manifest}
      },
      {mode: archiveMode(options), overwrite: options.overwrite ?? false},
    )
  } catch (error) {
    throw createError(options, error)
  }
}

/**
 * A bk archive: bk-manifest.json as its first member, then `prepend`'s members, then the tree. The source is read ONCE: the tar stream is
 * written compressed to a temp body file beside it while its members are hashed; then the manifest is compressed as
 * its own gzip member / zstd frame and the final file is that member followed by the body's bytes (concatenated
 * gzip members and zstd frames are one valid stream to gzip, zstd, GNU tar and node-tar). Cost: one sequential
 * copy of the compressed body, instead of a second read and hash of the whole source; and the manifest hashes are
 * exactly the archived bytes, even if a file changes while the backup runs. Atomic like createArchive.
 */
export async function createBkArchive(options: BkArchiveOptions): Promise<ArchiveResult & {manifest: Manifest}> {
  const compression = await checkCreate(options)
  try {
    return await atomicFile(
      options.file,
      async (tmp) => {
        const body = `${tmp}-body`
        const unregister = onInterrupt(() => rmSync(body, {force: true}), {sweep: true})
        try {
          const collector = manifestForArchive(options.meta)
          const userFilter = options.filter
          const written = await writeTar(
            body,
            {
              ...options,
              // a manifest already at the source's root would shadow ours on extraction (not under a prefix)
              filter: (path) =>
                (options.prefix !== undefined || path !== MANIFEST_NAME) && (userFilter ? userFilter(path) : true),
            },
            compression,
            {tap: (chunk) => collector.write(chunk), members: collector.members, exclude: [tmp], skipHash: true},
          )
          const manifest = await collector.finish()
          options.complete?.(manifest)
          // the manifest's text made, compressed and written a piece at a time: no copy of all of it, plain or
          // compressed, is ever held (tens of MB for many files, at the end of the run: its peak of memory)
          const text = manifestText(manifest, `for ${options.file}`)
          const member = memberStream(MANIFEST_NAME, text.size, text.pieces())
          const whole = await writeConcatenated(tmp, compressStream(member, compression, options.level), body)
          return {
            file: options.file,
            bytes: whole.bytes,
            sha256: whole.sha256,
            entries: written.entries + 1,
            skipped: written.skipped,
            manifest,
          }
        } finally {
          rmSync(body, {force: true})
          unregister()
        }
      },
      {mode: archiveMode(options), overwrite: options.overwrite ?? false},
    )
  } catch (error) {
    throw createError(options, error)
  }
}
