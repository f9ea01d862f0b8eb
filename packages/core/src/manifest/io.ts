import {open, readFile, stat, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {readArchiveMember} from '../archive/read.js'
import {BkError} from '../errors.js'
import {pathExists} from '../fs/paths.js'
import {atomicFile} from '../safety/atomic.js'
import {validateManifest} from './schema.js'
import {MANIFEST_NAME, type Manifest} from './types.js'

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

/**
 * serializeManifest's text (validated, the same bytes) as UTF-8 pieces of a few thousand files each: the whole text
 * of 80k files at once was a 20 MB string, its 20 MB Buffer and JSON.stringify's growing copies, a run's peak.
 */
export function manifestTextChunks(manifest: Manifest, where: string): Buffer[] {
  validateManifest(manifest, where)
  return Array.from(textPieces(manifest), (piece) => Buffer.from(piece))
}

/**
 * serializeManifest's text (validated, the same bytes) by its size in bytes and its pieces, made anew at each call
 * of `pieces()` as they are taken: a caller that needs the size first (a tar header) then streams the text never
 * holds all of it (128 000 files: 21 MB of text, and its compressed copy, at the end of a backup).
 */
export function manifestText(manifest: Manifest, where: string): {size: number; pieces(): Generator<Buffer>} {
  validateManifest(manifest, where)
  let size = 0
  for (const piece of textPieces(manifest)) size += Buffer.byteLength(piece)
  return {
    size,
    *pieces() {
      for (const piece of textPieces(manifest)) yield Buffer.from(piece)
    },
  }
}

/** The text of a validated manifest, as JSON.stringify(manifest, null, 2) and a newline, a few thousand files a piece. */
function* textPieces(manifest: Manifest): Generator<string> {
  const {files} = manifest
  const head = JSON.stringify({...manifest, files: []}, null, 2)
  const tail = '"files": []\n}'
  if (files.length <= MANIFEST_CHUNK || Object.keys(manifest).at(-1) !== 'files' || !head.endsWith(tail)) {
    yield `${JSON.stringify(manifest, null, 2)}\n`
    return
  }
  yield `${head.slice(0, -tail.length)}"files": [\n`
  for (let from = 0; from < files.length; from += MANIFEST_CHUNK) {
    const chunk = files.slice(from, from + MANIFEST_CHUNK)
    // the entries as JSON.stringify(manifest, null, 2) writes them, two levels deep: the same call on a manifest
    // of this chunk alone, its two first and two last lines cut (one native call, not one per entry)
    const whole = JSON.stringify({files: chunk}, null, 2)
    const text = whole.slice(
      whole.indexOf('\n', whole.indexOf('\n') + 1) + 1,
      whole.lastIndexOf('\n', whole.lastIndexOf('\n') - 1),
    )
    yield from + MANIFEST_CHUNK < files.length ? `${text},\n` : `${text}\n  ]\n}\n`
  }
}

/** Writes serializeManifest's text (validated, the same bytes) from manifestTextChunks. */
export async function writeManifestText(file: string, manifest: Manifest, where: string): Promise<void> {
  const chunks = manifestTextChunks(manifest, where)
  const out = await open(file, 'w', 0o644)
  try {
    for (const chunk of chunks) await out.writeFile(chunk)
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
  const text = serializeManifest(manifest, `for ${dir}`)
  await atomicFile(file, (tmp) => writeFile(tmp, text), {mode: 0o644, overwrite: true})
  return file
}

/** Write `<artifact>.bk.json` atomically (validated first); `syncDir: false` as atomicFile's. */
export async function writeSidecar(
  artifact: string,
  manifest: Manifest,
  options: {syncDir?: boolean} = {},
): Promise<string> {
  const file = sidecarPath(artifact)
  const text = serializeManifest(manifest, `for ${artifact}`)
  await atomicFile(file, (tmp) => writeFile(tmp, text), {mode: 0o644, overwrite: true, syncDir: options.syncDir})
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
