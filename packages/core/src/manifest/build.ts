import {readFileSync} from 'node:fs'
import {hashArchiveMembers} from '../archive/read.js'
import {sha256File} from '../fs/hash.js'
import {walk} from '../fs/walk.js'
import {CompactFiles, withCompactFiles} from './compact-files.js'
import {type TarMembersReadElsewhere, tarMembers} from './tar-members.js'
import {MANIFEST_NAME, type Manifest, type ManifestFile, type ManifestMeta} from './types.js'

let coreVersion: string | undefined

/** This bk's tool record ({name: 'bk', version of @bkcli/core}). */
export function bkTool(): Manifest['tool'] {
  if (!coreVersion) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version?: string}
      coreVersion = pkg.version ?? '0.0.0'
    } catch {
      coreVersion = '0.0.0'
    }
  }
  return {name: 'bk', version: coreVersion}
}

/** Assemble a manifest from the plugin's meta and the list of files. */
export function completeManifest(meta: ManifestMeta, files: ManifestFile[]): Manifest {
  const {created, tool, ...rest} = meta
  const manifest: Manifest = {
    format: 1,
    tool: tool ?? bkTool(),
    ...rest,
    created: created ?? new Date().toISOString(),
    files,
  }
  return manifest
}

/** What buildManifest may take as known instead of reading it again. */
export interface BuildManifestOptions {
  /**
   * sha256 of files the caller has just hashed while writing them (path relative to the root, '/'-separated): used
   * when the file found there still has that size, so those bytes are not read a second time.
   */
  hashed?: ReadonlyMap<string, {size: number; sha256: string; path?: string}>
  /** List the tree with synchronous calls (walk's `sync`): many small folders list faster; the event loop waits. */
  sync?: boolean
}

/** Walk `root` and hash every regular file (streamed), leaving a root-level bk-manifest.json out. */
export async function buildManifest(
  root: string,
  meta: ManifestMeta,
  options: BuildManifestOptions = {},
): Promise<Manifest> {
  const files: ManifestFile[] = []
  for await (const entry of walk(root, {sync: options.sync})) {
    if (!entry.stat.isFile() || entry.path === MANIFEST_NAME) continue
    const known = options.hashed?.get(entry.path)
    if (known && known.size === entry.stat.size && known.path === entry.path) {
      // the caller's entry itself: no second object per file (80k attachments held 20 MB more)
      files.push(known as ManifestFile)
    } else {
      const sha256 = known && known.size === entry.stat.size ? known.sha256 : await sha256File(entry.abs)
      files.push({path: entry.path, size: entry.stat.size, sha256})
    }
  }
  return completeManifest(meta, files)
}

/** A manifest listing the members of an existing archive (e.g. for the sidecar of a foreign tarball). */
export async function buildArchiveManifest(file: string, meta: ManifestMeta): Promise<Manifest> {
  const files: ManifestFile[] = []
  await hashArchiveMembers(file, (path, size, sha256) => {
    if (path !== MANIFEST_NAME) files.push({path, size, sha256})
  })
  return completeManifest(meta, files)
}

/** Reads the tar stream of an archive being written and builds its manifest from the members. */
export interface ArchiveManifestCollector {
  /** Feed every uncompressed tar byte, in order. */
  write(chunk: Buffer): void
  /**
   * Instead of `write`: the members as a reader of the tar stream in another thread found them (WriteHooks.members),
   * then its verdict on the whole stream (`read`), which `finish()` gives.
   */
  members: TarMembersReadElsewhere
  /** After the last byte: the manifest of the members seen. */
  finish(): Promise<Manifest>
}

/**
 * Hash the members of a tar stream while it is being written, so a big source is read once and the manifest
 * describes exactly the bytes that went into the archive (a file changing meanwhile cannot make them disagree).
 * `spillDir`: where the list of files goes past what it keeps in memory (beside the archive), so memory stays flat.
 */
export function manifestForArchive(meta: ManifestMeta, options: {spillDir?: string} = {}): ArchiveManifestCollector {
  const files = new CompactFiles({spillDir: options.spillDir})
  let failure: unknown
  // the list fails to spill (a full disk): kept for write() and finish(), never thrown at whoever hands a member over
  // (a decode thread's message handler, where a throw is uncaught and kills the process)
  const keep = (add: () => void) => {
    if (failure) return
    try {
      add()
    } catch (error) {
      failure = error
    }
  }
  const sink = {
    file(path: string, size: number, sha256: string) {
      if (path !== MANIFEST_NAME) keep(() => files.add(path, size, sha256))
    },
    link(path: string, target: string) {
      keep(() => files.link(path, target))
    },
  }
  const members = tarMembers(sink)
  let readElsewhere: {refusal: unknown} | undefined
  return {
    members: {
      ...sink,
      read(refusal) {
        readElsewhere = {refusal}
      },
    },
    write(chunk) {
      if (failure) throw failure
      try {
        members.write(chunk)
      } catch (error) {
        failure = error
        throw error
      }
    },
    async finish() {
      if (failure) throw failure
      if (readElsewhere) {
        if (readElsewhere.refusal !== undefined) throw readElsewhere.refusal
        return withCompactFiles(completeManifest(meta, []), files)
      }
      await members.end()
      return withCompactFiles(completeManifest(meta, []), files)
    },
  }
}
