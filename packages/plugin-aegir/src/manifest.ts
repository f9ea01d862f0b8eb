import {readFile, writeFile} from 'node:fs/promises'
import {basename} from 'node:path'
import {atomicFile} from '@bkcli/core'
import {PLUGIN} from './version.js'

/**
 * bk's record of a provision-format tarball: a sidecar `<tarball>.bk.json` (the tarball itself stays exactly
 * what provision writes and reads), with the core manifest's fields.
 */
export interface SidecarInput {
  created: string
  source: string
  description: string
  kind: string
  sha256: string
  bytes: number
  database: {engine: string; name: string; serverVersion?: string}
  extra?: Record<string, unknown>
}

export const sidecarOf = (file: string) => `${file}.bk.json`

export async function writeBackupSidecar(file: string, input: SidecarInput): Promise<void> {
  const manifest = {
    format: 1,
    tool: {name: 'bk', version: PLUGIN.version},
    plugin: PLUGIN,
    application: 'aegir',
    kind: input.kind,
    created: input.created,
    source: input.source,
    description: input.description,
    components: [
      {type: 'files', path: '.'},
      {
        type: 'database',
        engine: input.database.engine,
        ...(input.database.serverVersion ? {serverVersion: input.database.serverVersion} : {}),
        path: 'database.sql',
        database: input.database.name,
        format: 'sql',
      },
    ],
    files: [{path: basename(file), size: input.bytes, sha256: input.sha256}],
    ...(input.extra ? {extra: input.extra} : {}),
  }
  await atomicFile(sidecarOf(file), (tmp) => writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`), {mode: 0o600})
}

/** The description and kind of a backup from its sidecar; undefined for a tarball made by provision itself. */
export async function readBackupSidecar(
  file: string,
): Promise<{description?: string; kind?: string; created?: string; sha256?: string} | undefined> {
  try {
    const data = JSON.parse(await readFile(sidecarOf(file), 'utf8')) as Record<string, unknown>
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
    const files = Array.isArray(data.files) ? (data.files as {sha256?: string}[]) : []
    return {
      description: str(data.description),
      kind: str(data.kind),
      created: str(data.created),
      sha256: files[0]?.sha256,
    }
  } catch {
    return undefined
  }
}
