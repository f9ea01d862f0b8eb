import {open, readFile, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {readArchiveMember} from '../archive/read.js'
import {BkError} from '../errors.js'
import {pathExists} from '../fs/paths.js'
import {atomicFile} from '../safety/atomic.js'
import {compactFilesOf} from './compact-files.js'
import {isValidManifest, validateManifest} from './schema.js'
import {MANIFEST_NAME, type Manifest, type ManifestFile} from './types.js'

/** Sidecar of an artifact that must stay in a foreign format byte for byte. */
export function sidecarPath(artifact: string): string {
  return `${artifact}.bk.json`
}

/** Manifest as written: validated, two-space JSON, trailing newline. */
export function serializeManifest(manifest: Manifest, where = 'being written'): string {
  validateManifest(manifest, where)
  return `${JSON.stringify(manifest, null, 2)}\n`
}

/** Entries of the manifest's files list serialized and written at a time. */
const MANIFEST_CHUNK = 512

export function manifestTextChunks(manifest: Manifest, where: string): Buffer[] {
  const text = manifestText(manifest, where)
  return Array.from(text.pieces())
}

/**
 * serializeManifest's text (validated, the same bytes) by its size in bytes and its pieces, made anew at each call
 * of `pieces()` as they are taken: a caller that needs the size first (a tar header) then streams the text never
 * holds all of it (128 000 files: 21 MB of text, and its compressed copy, at the end of a backup). A manifest whose
 * files are a compact list (manifestForArchive's) is read from it a slice at a time: its array is never made.
 */
export function manifestText(manifest: Manifest, where: string): {size: number; pieces(): Generator<Buffer>} {
  const layout = textLayout(manifest)
  if (!layout) {
    const whole = Buffer.from(serializeManifest(manifest, where))
    return {
      size: whole.length,
      *pieces() {
        yield whole
      },
    }
  }
  // the head validated with no files, each slice of files in a manifest of that head: the same verdict as the whole
  validateManifest(layout.empty, where)
  let size = Buffer.byteLength(layout.start) + Buffer.byteLength(TEXT_END)
  let first = true
  for (const slice of layout.slices()) {
    // a refusal names its entry by its index in the whole list: told by the whole manifest (a failure path only)
    if (!isValidManifest({...layout.empty, files: slice})) validateManifest(manifest, where)
    size += Buffer.byteLength(entriesText(slice)) + (first ? 0 : ENTRY_SEPARATOR.length)
    first = false
  }
  return {
    size,
    *pieces() {
      yield Buffer.from(layout.start)
      let first = true
      for (const slice of layout.slices()) {
        yield Buffer.from(first ? entriesText(slice) : `${ENTRY_SEPARATOR}${entriesText(slice)}`)
        first = false
      }
      yield Buffer.from(TEXT_END)
    },
  }
}

const ENTRY_SEPARATOR = ',\n'
const TEXT_END = '\n  ]\n}\n'

/**
 * How JSON.stringify(manifest, null, 2) lays out a manifest of many files whose `files` comes last: the text before
 * the first entry, the manifest with no files, and the files a slice at a time; undefined for any other (written
 * whole by serializeManifest).
 */
function textLayout(
  manifest: Manifest,
): {start: string; empty: Manifest; slices(): Iterable<ManifestFile[]>} | undefined {
  const keys = Object.keys(manifest)
  if (keys.at(-1) !== 'files') return undefined
  const compact = compactFilesOf(manifest)
  const count = compact?.length ?? manifest.files.length
  if (count <= MANIFEST_CHUNK) return undefined
  // the manifest's own fields in their order, `files` read from nothing (its getter would make the whole array)
  const empty = {} as Record<string, unknown>
  for (const key of keys) empty[key] = key === 'files' ? [] : (manifest as unknown as Record<string, unknown>)[key]
  const head = JSON.stringify(empty, null, 2)
  const tail = '"files": []\n}'
  if (!head.endsWith(tail)) return undefined
  const files = compact ? undefined : manifest.files
  return {
    start: `${head.slice(0, -tail.length)}"files": [\n`,
    empty: empty as unknown as Manifest,
    *slices() {
      if (compact) yield* compact.slices(MANIFEST_CHUNK)
      else
        for (let from = 0; from < count; from += MANIFEST_CHUNK)
          yield (files as ManifestFile[]).slice(from, from + MANIFEST_CHUNK)
    },
  }
}

/**
 * Entries as JSON.stringify(manifest, null, 2) writes them, two levels deep, without the separator after the last:
 * the same call on a manifest of these alone, its two first and two last lines cut (one native call, not one per
 * entry).
 */
function entriesText(files: ManifestFile[]): string {
  const whole = JSON.stringify({files}, null, 2)
  return whole.slice(
    whole.indexOf('\n', whole.indexOf('\n') + 1) + 1,
    whole.lastIndexOf('\n', whole.lastIndexOf('\n') - 1),
  )
}

/** Writes serializeManifest's text (validated, the same bytes), a piece at a time. */
export async function writeManifestText(file: string, manifest: Manifest, where: string): Promise<void> {
  await writePieces(file, manifestText(manifest, where).pieces())
}

async function writePieces(file: string, pieces: Iterable<Buffer>): Promise<void> {
  const out = await open(file, 'w', 0o644)
  try {
    for (const piece of pieces) await out.writeFile(piece)
  } finally {
    await out.close()
  }
}

/** Parses and validates a manifest; a bad one is a BkError naming `where`. */
export function parseManifest(text: string, where: string): Manifest {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new BkError(`invalid manifest ${where}: not JSON (${(error as Error).message})`, {code: 'EMANIFEST'})
  }
  validateManifest(data, where)
  return data
}

/** Write `<dir>/bk-manifest.json` atomically (validated first). */
export async function writeManifest(dir: string, manifest: Manifest): Promise<string> {
  const file = join(dir, MANIFEST_NAME)
  const text = manifestText(manifest, `for ${dir}`)
  await atomicFile(file, (tmp) => writePieces(tmp, text.pieces()), {mode: 0o644, overwrite: true})
  return file
}

/** Write `<artifact>.bk.json` atomically (validated first); `syncDir: false` as atomicFile's. */
export async function writeSidecar(
  artifact: string,
  manifest: Manifest,
  options: {syncDir?: boolean} = {},
): Promise<string> {
  const file = sidecarPath(artifact)
  const text = manifestText(manifest, `for ${artifact}`)
  await atomicFile(file, (tmp) => writePieces(tmp, text.pieces()), {
    mode: 0o644,
    overwrite: true,
    syncDir: options.syncDir,
  })
  return file
}

/** Where a manifest was found: inside a directory, an archive, a sidecar or a file. */
export type ManifestSource = 'directory' | 'archive' | 'sidecar' | 'file'

/** Where the manifest of `artifact` lives, without reading it (undefined: it has none). */
export async function locateManifest(artifact: string): Promise<{source: ManifestSource; path: string} | undefined> {
  const st = await stat(artifact).catch(() => undefined)
  if (!st) throw new BkError(`${artifact} not found`, {code: 'ENOENT'})
  if (st.isDirectory()) {
    if (await pathExists(join(artifact, MANIFEST_NAME)))
      return {source: 'directory', path: join(artifact, MANIFEST_NAME)}
    if (await pathExists(sidecarPath(artifact))) return {source: 'sidecar', path: sidecarPath(artifact)}
    return undefined
  }
  if (basename(artifact) === MANIFEST_NAME || artifact.endsWith('.bk.json')) return {source: 'file', path: artifact}
  if (await pathExists(sidecarPath(artifact))) return {source: 'sidecar', path: sidecarPath(artifact)}
  return {source: 'archive', path: artifact}
}

/**
 * The manifest of an artifact: a directory's bk-manifest.json, a bk archive's first member, an artifact's sidecar
 * `<artifact>.bk.json`, or a manifest file named directly. Validated; BkError naming the bad field.
 */
export async function readManifest(artifact: string): Promise<Manifest> {
  const found = await locateManifest(artifact)
  if (!found) throw new BkError(`${artifact} has no ${MANIFEST_NAME} (not made by bk?)`, {code: 'ENOMANIFEST'})
  if (found.source === 'archive') {
    const content = await readArchiveMember(artifact, MANIFEST_NAME, {firstOnly: true, maxBytes: 1024 * 1024 * 1024})
    if (!content)
      throw new BkError(`${artifact} has no ${MANIFEST_NAME} as its first member (not made by bk?)`, {
        code: 'ENOMANIFEST',
      })
    return parseManifest(content.toString('utf8'), `in ${artifact}`)
  }
  return parseManifest(await readFile(found.path, 'utf8'), found.path === artifact ? artifact : `${found.path}`)
}
