// `<backup file>.bk.json`: bk's sidecar beside a repozo backup file (the design's rule for artifacts that must
// stay in a foreign format). repozo ignores it (its data-file pattern is anchored). It holds the manifest
// fields plus what the next incremental needs to check Data.fs in O(1): the md5 of the first and the last
// 64 KiB of the backed-up prefix and the tid of the transaction that ends it.
import {readFile} from 'node:fs/promises'
import {basename} from 'node:path'

export interface Sidecar {
  name: string
  kind: 'full' | 'incremental'
  source?: string
  start: number
  end: number
  /** md5 of the uncompressed bytes, as in the .dat */
  md5: string
  headLength: number
  headMd5: string
  tailStart: number
  tailMd5: string
  lastTid?: string
  /** size and sha256 of the file as stored (compressed for .fsz/.deltafsz) */
  size?: number
  sha256?: string
}

export function sidecarPathOf(file: string): string {
  return `${file}.bk.json`
}

/**
 * Written through core's manifest code (schema-checked, atomic); `bk verify`-style checks hash the file.
 * `syncDir: false`: the caller fsyncs the folder (once for several files) before its commit point.
 */
export async function writeSidecar(file: string, s: Sidecar, options: {syncDir?: boolean} = {}): Promise<void> {
  // loaded here: a restore or a listing only reads sidecars, and core's manifest code brings its archive reader along
  const {completeManifest, pluginIdentity, writeSidecar: writeCoreSidecar} = await import('@bkcli/core/manifest')
  const manifest = completeManifest(
    {
      plugin: pluginIdentity(import.meta.url).plugin,
      application: 'zodb',
      kind: s.kind,
      source: s.source ?? '',
      components: [{type: 'files', path: '.', count: 1, bytes: s.end - s.start}],
      extra: {repozo: s},
    },
    s.sha256 ? [{path: basename(file), size: s.size ?? 0, sha256: s.sha256}] : [],
  )
  await writeCoreSidecar(file, manifest, options)
}

/** The sidecar of a backup file, or undefined when it is missing or not bk's. */
export async function readSidecar(file: string): Promise<Sidecar | undefined> {
  try {
    const doc = JSON.parse(await readFile(sidecarPathOf(file), 'utf8')) as {extra?: {repozo?: Sidecar}}
    const s = doc.extra?.repozo
    if (!s || typeof s.end !== 'number' || typeof s.tailMd5 !== 'string' || typeof s.headMd5 !== 'string') return
    return s
  } catch {
    return undefined
  }
}
