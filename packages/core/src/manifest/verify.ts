import {stat} from 'node:fs/promises'
import {basename} from 'node:path'
import {hashArchiveMembers} from '../archive/read.js'
import {sha256File} from '../fs/hash.js'
import {compareNames, walk} from '../fs/walk.js'
import {locateManifest, readManifest} from './io.js'
import {MANIFEST_NAME, type Manifest, type VerifyResult} from './types.js'

class Comparison {
  private readonly expected = new Map<string, {size: number; sha256: string}>()
  private readonly seen = new Set<string>()
  readonly changed: string[] = []
  readonly extra: string[] = []
  checked = 0

  constructor(readonly manifest: Manifest) {
    for (const f of manifest.files) this.expected.set(f.path, f)
  }

  file(path: string, size: number, sha256: string): void {
    const want = this.expected.get(path)
    if (!want) {
      this.extra.push(path)
      return
    }
    this.seen.add(path)
    this.checked++
    if (want.size !== size || want.sha256 !== sha256) this.changed.push(path)
  }

  result(): VerifyResult {
    const missing = [...this.expected.keys()].filter((p) => !this.seen.has(p))
    const sort = (a: string[]) => a.sort(compareNames)
    return {
      ok: missing.length === 0 && this.changed.length === 0 && this.extra.length === 0,
      missing: sort(missing),
      changed: sort(this.changed),
      extra: sort(this.extra),
      checked: this.checked,
      manifest: this.manifest,
    }
  }
}

/**
 * Re-hash an artifact against its manifest and report every missing, changed and extra regular file:
 * a directory (its bk-manifest.json), a bk archive (manifest = first member; the archive is streamed once and
 * its members hashed on the fly), or an artifact with a sidecar `<artifact>.bk.json` (a sidecar listing just the
 * artifact's own name checks that file; otherwise it lists the members of the archive).
 */
export async function verifyManifest(artifact: string): Promise<VerifyResult> {
  const manifest = await readManifest(artifact)
  const found = await locateManifest(artifact)
  const cmp = new Comparison(manifest)
  const st = await stat(artifact)
  if (st.isDirectory()) {
    const embedded = found?.source === 'directory'
    for await (const entry of walk(artifact)) {
      if (!entry.stat.isFile()) continue
      if (embedded && entry.path === MANIFEST_NAME) continue
      cmp.file(entry.path, entry.stat.size, await sha256File(entry.abs))
    }
    return cmp.result()
  }
  const only = manifest.files.length === 1 ? manifest.files[0] : undefined
  if (found?.source === 'sidecar' && only?.path === basename(artifact)) {
    cmp.file(only.path, st.size, await sha256File(artifact))
    return cmp.result()
  }
  const embedded = found?.source === 'archive'
  let first = true
  await hashArchiveMembers(artifact, (path, size, sha256) => {
    const isFirst = first
    first = false
    if (embedded && isFirst && path === MANIFEST_NAME) return
    cmp.file(path, size, sha256)
  })
  return cmp.result()
}
