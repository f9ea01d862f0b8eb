/**
 * Where Roundup backups are and how they are named: what list, prune and pull need, without the backup's own
 * modules (the database drivers, the archive writer), so those commands load only this.
 */
import {existsSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {Catalog, type CatalogEntry, datedNaming, sortNewestFirst} from '@bkcli/core/catalog'
import {BkError} from '@bkcli/core/errors'
import type {Artifact, ArtifactStore} from '@bkcli/core/workflow'

export function defaultLocation(home: string): string {
  return join(dirname(resolve(home)), `${basename(resolve(home))}.backups`)
}

export function roundupCatalog(location: string, name?: string): Catalog {
  return new Catalog(
    location,
    datedNaming({prefix: name ? `${name}-` : '', suffix: ['.tar.gz', '.tar.zst', '.tar'], clock: 'utc'}),
    {filter: (n) => /\.tar(\.gz|\.zst)?$/.test(n)},
  )
}

/** A location's Roundup backups as core's workflow lists and prunes them (retention per tracker name). */
export function roundupStore(locationArg: string): ArtifactStore {
  const location = resolve(locationArg)
  return {
    location,
    clock: 'utc',
    async list(): Promise<Artifact[]> {
      if (!existsSync(location)) return []
      return (await listBackups(location)).map((e) => ({
        name: e.name,
        path: e.path,
        kind: e.kind ?? 'full',
        date: e.date,
        bytes: e.size,
        group: BACKUP_NAME.exec(e.name)?.[1],
        description: e.description,
        madeBy: 'bk',
      }))
    },
  }
}

const BACKUP_NAME = /^(.+)-\d{4}-\d\d-\d\d_\d{6}(?:_\d+)?\.tar(?:\.gz|\.zst)?$/

/** Every tracker's backups in a location (names are `<home name>-<UTC stamp>.tar.gz`), newest first. */
export async function listBackups(locationArg: string): Promise<CatalogEntry[]> {
  const location = resolve(locationArg)
  let names: string[] = []
  try {
    names = await readdir(location)
  } catch {
    throw new BkError(`${locationArg} is not a readable backup location`)
  }
  const prefixes = new Set<string>()
  for (const n of names) {
    const m = BACKUP_NAME.exec(n)
    if (m && !n.startsWith('.')) prefixes.add(m[1] as string)
  }
  const all: CatalogEntry[] = []
  for (const p of prefixes) all.push(...(await roundupCatalog(location, p).list()))
  return sortNewestFirst(all)
}
