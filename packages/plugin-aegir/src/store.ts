import type {Artifact, ArtifactStore} from '@bkcli/core/workflow'
import {REASON_ON_REQUEST, siteCatalog} from './naming.js'

/** A site's backups in a backup location (Aegir keeps every site's in one folder), as core lists and prunes them. */
export function siteStore(location: string, uri: string): ArtifactStore {
  return {
    location,
    clock: 'local',
    async list(): Promise<Artifact[]> {
      const entries = await siteCatalog(location, uri).list()
      return entries
        .filter((e) => e.type === 'file')
        .map((e) => ({
          name: e.name,
          path: e.path,
          kind: e.kind ?? 'full',
          date: e.date,
          bytes: e.size,
          group: uri,
          description: e.description ?? REASON_ON_REQUEST,
          madeBy: e.sidecar ? 'bk' : 'provision',
          paths: e.sidecar ? [e.sidecar] : [],
        }))
    },
  }
}
