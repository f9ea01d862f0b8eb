import {mkdir, mkdtemp, rename, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {BkError} from '../errors.js'
import type {Artifact} from '../workflow/artifacts.js'
import {assertResticPassword, type OffsiteTarget, offsiteTool} from './target.js'

/**
 * One artifact as it is stored off-site: its files relative to a root folder (the location, or the folder that
 * holds the location and every other path of the artifact, e.g. a repozo repository and its blob backups), so a
 * pull puts them back in the same places under a location of the same shape.
 */
export interface OffsiteEntry {
  /** The plugin: trac, roundup, zodb, aegir, iotstack. */
  app: string
  name: string
  kind: string
  /** ISO date of the artifact. */
  date: string
  bytes: number
  group?: string
  madeBy?: string
  /** The artifact's main path, relative to the root. */
  path: string
  /** Every path of the artifact (main first), relative to the root. */
  files: string[]
  /** Those of `files` that are folders. */
  dirs: string[]
  /** The location relative to the root ('' when the root is the location). */
  location: string
  /** restic: the snapshot holding it. */
  id?: string
}

/** The folder that holds the location and every path of the artifact. */
function commonRoot(paths: string[]): string {
  const split = paths.map((p) => resolve(p).split(sep))
  const first = split[0] ?? []
  let n = 0
  while (n < first.length && split.every((parts) => parts[n] === first[n])) n++
  return first.slice(0, n).join(sep) || sep
}

/** Describes a local artifact for the remote; `root` is where its relative paths start. */
export async function entryOf(
  app: string,
  artifact: Artifact,
  location: string,
): Promise<{entry: OffsiteEntry; root: string}> {
  const all = [artifact.path, ...(artifact.paths ?? []).filter((p) => p !== artifact.path)]
  const root = commonRoot([location, ...all.map((p) => dirname(p))])
  const dirs: string[] = []
  for (const p of all) if ((await stat(p)).isDirectory()) dirs.push(relative(root, p))
  return {
    root,
    entry: {
      app,
      name: artifact.name,
      kind: artifact.kind,
      date: artifact.date.toISOString(),
      bytes: artifact.bytes,
      ...(artifact.group === undefined ? {} : {group: artifact.group}),
      ...(artifact.madeBy === undefined ? {} : {madeBy: artifact.madeBy}),
      path: relative(root, artifact.path),
      files: all.map((p) => relative(root, p)),
      dirs,
      location: relative(root, resolve(location)),
    },
  }
}

/** The root under which an entry's files go, for a location of the same shape as the one it came from. */
export function rootFor(entry: OffsiteEntry, location: string): string {
  const up = entry.location.split('/').filter(Boolean)
  return resolve(location, ...up.map(() => '..'))
}

function joinRemote(dest: string, rel: string): string {
  return dest.endsWith(':') || dest.endsWith('/') ? `${dest}${rel}` : `${dest}/${rel}`
}

/** Where an rclone target keeps its index of entries, one JSON file per artifact. */
function indexDir(target: {dest: string}, app: string): string {
  return joinRemote(target.dest, `.bk-offsite/${app}`)
}

function indexName(name: string): string {
  return `${name.replaceAll('/', '_')}.json`
}

const ENTRY_TAG = 'bk-entry='

function encodeEntry(entry: OffsiteEntry): string {
  return ENTRY_TAG + Buffer.from(JSON.stringify(entry)).toString('base64url')
}

/** Copies one artifact (every file of it) to the target, then its index entry: an entry is listed only when whole. */
export async function copyEntry(
  target: OffsiteTarget,
  entry: OffsiteEntry,
  root: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (target.kind === 'rclone') {
    for (const rel of entry.files) {
      const local = join(root, rel)
      if (entry.dirs.includes(rel)) await offsiteTool('rclone', ['copy', local, joinRemote(target.dest, rel)], {env})
      else await offsiteTool('rclone', ['copyto', local, joinRemote(target.dest, rel)], {env})
    }
    const tmp = await mkdtemp(join(tmpdir(), 'bk-offsite-'))
    try {
      const file = join(tmp, indexName(entry.name))
      await writeFile(file, JSON.stringify(entry), {mode: 0o600})
      await offsiteTool('rclone', ['copyto', file, joinRemote(indexDir(target, entry.app), indexName(entry.name))], {
        env,
      })
    } finally {
      await rm(tmp, {recursive: true, force: true})
    }
    return
  }
  assertResticPassword(env)
  await offsiteTool(
    'restic',
    [
      '-r',
      target.repository,
      'backup',
      '--quiet',
      '--tag',
      'bk',
      '--tag',
      `bk-app=${entry.app}`,
      '--tag',
      encodeEntry(entry),
      '--',
      ...entry.files,
    ],
    {env, cwd: root},
  )
}

/** Every entry of `app` the target holds (restic: one snapshot each), any order. */
export async function listEntries(target: OffsiteTarget, app: string, env: NodeJS.ProcessEnv): Promise<OffsiteEntry[]> {
  if (target.kind === 'rclone') {
    let names: string[]
    try {
      names = (await offsiteTool('rclone', ['lsf', '--files-only', indexDir(target, app)], {env}))
        .split('\n')
        .filter((n) => n.endsWith('.json'))
    } catch (error) {
      if (/directory not found|not found/i.test((error as Error).message)) return []
      throw error
    }
    const entries: OffsiteEntry[] = []
    for (const name of names) {
      const text = await offsiteTool('rclone', ['cat', joinRemote(indexDir(target, app), name)], {env})
      entries.push(JSON.parse(text) as OffsiteEntry)
    }
    return entries
  }
  assertResticPassword(env)
  const snapshots = JSON.parse(
    await offsiteTool('restic', ['-r', target.repository, 'snapshots', '--json', '--tag', `bk-app=${app}`], {env}),
  ) as {id: string; tags?: string[]}[] | null
  const entries: OffsiteEntry[] = []
  for (const s of snapshots ?? []) {
    const tag = s.tags?.find((t) => t.startsWith(ENTRY_TAG))
    if (!tag) continue
    const entry = JSON.parse(Buffer.from(tag.slice(ENTRY_TAG.length), 'base64url').toString()) as OffsiteEntry
    entries.push({...entry, id: s.id})
  }
  return entries
}

/** Fetches an entry's files into `stage` (same relative paths); the caller moves them into place. */
export async function fetchEntry(
  target: OffsiteTarget,
  entry: OffsiteEntry,
  stage: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (target.kind === 'rclone') {
    for (const rel of entry.files) {
      const local = join(stage, rel)
      await mkdir(dirname(local), {recursive: true, mode: 0o700})
      if (entry.dirs.includes(rel)) await offsiteTool('rclone', ['copy', joinRemote(target.dest, rel), local], {env})
      else await offsiteTool('rclone', ['copyto', joinRemote(target.dest, rel), local], {env})
    }
    return
  }
  assertResticPassword(env)
  if (!entry.id) throw new BkError(`${target.text}: no snapshot for ${entry.name}`)
  const restored = join(stage, '.restic')
  await offsiteTool('restic', ['-r', target.repository, 'restore', '--quiet', entry.id, '--target', restored], {env})
  // Where the files sit inside the snapshot differs between restic versions (0.14 strips the common parent):
  // ask the snapshot's own listing and match the longest suffix of each relative path.
  const nodes = (await offsiteTool('restic', ['-r', target.repository, 'ls', '--json', entry.id], {env}))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as {struct_type?: string; path?: string})
    .filter((n) => n.struct_type === 'node' && n.path)
    .map((n) => n.path as string)
  for (const rel of entry.files) {
    const parts = rel.split('/')
    let found: string | undefined
    for (let i = 0; i < parts.length && !found; i++) {
      const suffix = `/${parts.slice(i).join('/')}`
      found = nodes.find((p) => p === suffix || p.endsWith(suffix))
    }
    if (!found) {
      throw new BkError(`restic snapshot ${entry.id.slice(0, 8)} does not hold ${rel}; check it with 'restic ls'`)
    }
    await mkdir(dirname(join(stage, rel)), {recursive: true, mode: 0o700})
    await rename(join(restored, found), join(stage, rel))
  }
  await rm(restored, {recursive: true, force: true})
}

/** Removes entries from the target: their files, then their index (rclone), or their snapshots (restic). */
export async function removeEntries(
  target: OffsiteTarget,
  entries: OffsiteEntry[],
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (entries.length === 0) return
  if (target.kind === 'rclone') {
    for (const entry of entries) {
      // The index first: a half-removed entry is no longer listed, never listed and incomplete.
      await offsiteTool('rclone', ['deletefile', joinRemote(indexDir(target, entry.app), indexName(entry.name))], {
        env,
      })
      for (const rel of entry.files) {
        const remote = joinRemote(target.dest, rel)
        if (entry.dirs.includes(rel)) await offsiteTool('rclone', ['purge', remote], {env})
        else await offsiteTool('rclone', ['deletefile', remote], {env})
      }
    }
    return
  }
  assertResticPassword(env)
  const ids = entries.map((e) => e.id).filter((id): id is string => Boolean(id))
  await offsiteTool('restic', ['-r', target.repository, 'forget', '--quiet', '--prune', ...ids], {env})
}

/** An entry as an Artifact, so core's retention decides the remote with the same rules as the location. */
export function entryArtifact(entry: OffsiteEntry): Artifact {
  return {
    name: entry.name,
    path: entry.path,
    kind: entry.kind,
    date: new Date(entry.date),
    bytes: entry.bytes,
    ...(entry.group === undefined ? {} : {group: entry.group}),
  }
}
