// The Trac backups in a location, as list/prune/pull and a backup's retention see them: kept apart from the backup
// code so those commands load only this.
import {readdir} from 'node:fs/promises'
import {resolve} from 'node:path'
import {Catalog, type CatalogEntry, datedNaming, sortNewestFirst} from '@bkcli/core/catalog'
import type {Artifact, ArtifactStore} from '@bkcli/core/workflow'

/** `<env name>-YYYY-MM-DD_HHMMSS.tar.gz`, UTC. */
export function tracCatalog(location: string, envName: string): Catalog {
  return new Catalog(
    location,
    datedNaming({prefix: `${envName}-`, suffix: ['.tar.gz', '.tar.zst', '.tar'], clock: 'utc'}),
  )
}

/** The location as core's list/prune/retention see it: every env's archives, grouped by env. */
export function tracStore(location: string): ArtifactStore {
  const dir = resolve(location)
  return {
    location: dir,
    clock: 'utc',
    async list() {
      const names = await readdir(dir).catch(() => [] as string[])
      const out: Artifact[] = []
      for (const group of envNames(names)) {
        for (const e of await tracCatalog(dir, group).list()) {
          out.push({
            name: e.name,
            path: e.path,
            kind: e.kind ?? (e.type === 'dir' ? 'hotcopy' : 'full'),
            date: e.date,
            bytes: e.size,
            group,
            ...(e.description ? {description: e.description} : {}),
          })
        }
      }
      return out
    },
  }
}

/** Every env's backups in a location (names `<env>-YYYY-MM-DD_HHMMSS[_n].tar.gz`), newest first. */
export async function listBackups(location: string): Promise<CatalogEntry[]> {
  const dir = resolve(location)
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  const entries: CatalogEntry[] = []
  for (const prefix of envNames(names)) entries.push(...(await tracCatalog(dir, prefix).list()))
  return sortNewestFirst(entries)
}

/** The env names of the backups in a directory listing (`<env>-YYYY-MM-DD_HHMMSS[_n].tar…`). */
function envNames(names: string[]): Set<string> {
  const prefixes = new Set<string>()
  for (const name of names) {
    const m = /^(.+)-\d{4}-\d{2}-\d{2}_\d{6}(?:_\d+)?\.tar(?:\.gz|\.zst)?$/.exec(name)
    if (m && !name.startsWith('.')) prefixes.add(m[1]!)
  }
  return prefixes
}
