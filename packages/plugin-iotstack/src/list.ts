import {relative} from 'node:path'
import {Catalog} from '@bkcli/core'
import {DATED_NAMING, ROLLING_NAMINGS} from './naming.js'
import {readSidecar} from './sidecar.js'
import {stackPaths} from './stack.js'

/** `bk iotstack list`: the stack's archives — dated, rolling and restore's safety copies — newest first in each group. */
export interface ListedBackup {
  kind: 'dated' | 'rolling' | 'pre-restore'
  name: string
  /** Relative to the backups folder, as restore takes it (`backup/backup_2026-11-21_2219.tar.gz`). */
  ref: string
  path: string
  date: string
  bytes: number
  /** 'bk' when it has bk's sidecar manifest, else made by IOTstack's backup.sh. */
  madeBy: 'bk' | 'iotstack'
  /** Known from bk's manifest; IOTstack's archives never hold .env. */
  includesEnv: boolean
}

export async function listBackups(stackDir: string, options: {location?: string} = {}): Promise<ListedBackup[]> {
  const paths = stackPaths(stackDir, options.location)
  const sources = [
    {kind: 'dated' as const, dir: paths.dated, naming: DATED_NAMING},
    ...ROLLING_NAMINGS.map((naming) => ({kind: 'rolling' as const, dir: paths.rolling, naming})),
    {kind: 'pre-restore' as const, dir: paths.preRestore, naming: DATED_NAMING},
  ]
  const listed: ListedBackup[] = []
  for (const source of sources) {
    for (const entry of await new Catalog(source.dir, source.naming, {manifests: false}).list()) {
      if (entry.type !== 'file') continue
      const sidecar = await readSidecar(entry.path).catch(() => undefined)
      listed.push({
        kind: source.kind,
        name: entry.name,
        ref: relative(paths.backups, entry.path),
        path: entry.path,
        date: entry.date.toISOString(),
        bytes: entry.size,
        madeBy: sidecar ? 'bk' : 'iotstack',
        includesEnv: sidecar?.extra.includesEnv ?? false,
      })
    }
  }
  // Grouped like IOTstack's folders (dated, rolling, safety copies), newest first in each.
  return listed
}
