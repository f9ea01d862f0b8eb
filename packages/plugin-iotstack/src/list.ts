import {existsSync, readdirSync} from 'node:fs'
import {lstat} from 'node:fs/promises'
import {join} from 'node:path'
import {Catalog} from '@bkcli/core/catalog'
import {sidecarPath} from '@bkcli/core/manifest'
import type {Artifact, ArtifactStore} from '@bkcli/core/workflow'
import {DATED_NAMING, ROLLING_NAMINGS} from './naming.js'
import {restoreJournal} from './recover.js'
import {readSidecar} from './sidecar.js'
import {type StackPaths, stackPaths} from './stack.js'

/**
 * The stack's backups folder as core lists and prunes it: dated archives (pruned by retention), rolling ones
 * (IOTstack keeps seven by weekday: never pruned) and restore's safety copies (never pruned). An archive whose
 * sidecar does not match it (a run killed mid-publish, not yet recovered) is listed as such, never as good.
 * Leftovers of killed runs (`.…bk-partial-…`, `.…bk-stage-…`, `*.bk-prev-PID`) never match IOTstack's names.
 */
export function stackStore(stackDir: string, location?: string): ArtifactStore {
  const paths = stackPaths(stackDir, location)
  return {location: paths.backups, clock: 'local', list: () => listArtifacts(paths)}
}

async function listArtifacts(paths: StackPaths): Promise<Artifact[]> {
  const sources = [
    {kind: 'dated', dir: paths.dated, naming: DATED_NAMING, pinned: false},
    ...ROLLING_NAMINGS.map((naming) => ({kind: 'rolling', dir: paths.rolling, naming, pinned: true})),
    {kind: 'pre-restore', dir: paths.preRestore, naming: DATED_NAMING, pinned: true},
  ]
  const listed: Artifact[] = []
  for (const source of sources) {
    for (const entry of await new Catalog(source.dir, source.naming, {manifests: false}).list()) {
      if (entry.type !== 'file') continue
      const sidecar = await readSidecar(entry.path).catch(() => 'unreadable' as const)
      const sidecarBytes = (await lstat(sidecarPath(entry.path)).catch(() => undefined))?.size
      let description: string
      if (sidecar === 'unreadable') description = 'its manifest is unreadable: check it with bk iotstack verify'
      else if (sidecar && sidecar.extra.archive.bytes !== entry.size)
        description = 'does not match its manifest (an interrupted backup?): check it with bk iotstack verify'
      else if (sidecar) description = sidecar.extra.includesEnv ? '.env included' : 'no .env'
      else description = 'no .env'
      listed.push({
        name: entry.name,
        path: entry.path,
        kind: source.kind,
        date: entry.date,
        bytes: entry.size + (sidecarBytes ?? 0),
        group: source.kind,
        description,
        madeBy: sidecar ? 'bk' : 'IOTstack',
        ...(sidecarBytes === undefined ? {} : {paths: [sidecarPath(entry.path)]}),
        ...(source.pinned ? {pinned: true} : {}),
      })
    }
  }
  return listed
}

/** What a killed run left that the next backup or restore will finish (for list's warning). */
export function pendingCommits(stackDir: string, location?: string): string[] {
  const paths = stackPaths(stackDir, location)
  const found = existsSync(restoreJournal(paths.dir)) ? [restoreJournal(paths.dir)] : []
  for (const dir of [paths.dated, paths.rolling]) {
    if (!existsSync(dir)) continue
    for (const name of readdirSync(dir)) if (name.endsWith('.bk-commit.json')) found.push(join(dir, name))
  }
  return found
}
