import {rmSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, rename, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import type {RetentionPolicy} from '../catalog/retention.js'
import {BkError} from '../errors.js'
import {pathExists} from '../fs/paths.js'
import {crashPoint} from '../safety/crash-point.js'
import {onInterrupt} from '../safety/interrupt.js'
import {type Artifact, type ArtifactStore, newestFirst} from '../workflow/artifacts.js'
import {type Plan, step} from '../workflow/plan.js'
import {decidePrune} from '../workflow/prune.js'
import {
  copyEntry,
  entryArtifact,
  entryOf,
  fetchEntry,
  listEntries,
  type OffsiteEntry,
  removeEntries,
  rootFor,
} from './remote.js'
import {isEncrypting, type OffsiteTarget, parseTarget} from './target.js'

/** What a backup command gives the workflow to copy its artifacts off-site (see BkCommand.offsite()). */
export interface OffsiteSettings {
  /** The --copy-to values. */
  targets: string[]
  allowUnencrypted: boolean
  /** The plugin, which names its artifacts on the remote. */
  app: string
  /** The location the backup writes to: the artifacts made are looked up there, with every path that goes with them. */
  store(): Promise<ArtifactStore>
  /** Why the artifacts hold secrets (".env", "database credentials in settings.php"): refuse an unencrypted target. */
  secrets?: string
  /** Which of the paths the backup made to copy (default: all), e.g. the dated archive and not its rolling twin. */
  pick?(made: string[]): string[]
  /** The retention rules of the run, applied on the remote too. */
  policy?: RetentionPolicy
  env?: NodeJS.ProcessEnv
}

/** One target's part of a backup's result: where the copy went, what went there and what retention removed. */
export interface OffsiteCopy {
  target: string
  tool: 'rclone' | 'restic'
  encrypted: boolean
  /** Names of the artifacts copied. */
  artifacts: string[]
  /** Names of the artifacts retention removed from the target. */
  removed: string[]
}

/** The plan steps of the copies (the remote is not read: its retention shows as one step per target). */
export function offsiteSteps(settings: OffsiteSettings): Plan['steps'] {
  return settings.targets.flatMap((text) => {
    const target = parseTarget(text)
    return [
      step('copy', target.text, `the new backup and every file that goes with it, through ${target.kind}`),
      ...(settings.policy ? [step('remove', target.text, 'older copies, by the same retention rules')] : []),
    ]
  })
}

/**
 * Before anything is written: every target parses, its tool answers, and an unencrypted one is refused for
 * artifacts holding secrets unless allowUnencrypted.
 */
export async function checkTargets(settings: OffsiteSettings): Promise<{target: OffsiteTarget; encrypted: boolean}[]> {
  const env = settings.env ?? process.env
  const out: {target: OffsiteTarget; encrypted: boolean}[] = []
  for (const text of settings.targets) {
    const target = parseTarget(text)
    const encrypted = await isEncrypting(target, env)
    if (settings.secrets && !encrypted && !settings.allowUnencrypted) {
      throw new BkError(
        `${target.text} does not encrypt and the backup holds ${settings.secrets}: use restic or an rclone crypt remote, or pass --allow-unencrypted`,
      )
    }
    out.push({target, encrypted})
  }
  return out
}

/**
 * After the act: finds the artifacts made (by the paths of the result) in the location, copies each whole to
 * every target, then applies the retention rules to the target's entries of the same groups.
 */
export async function copyOffsite(
  settings: OffsiteSettings,
  checked: {target: OffsiteTarget; encrypted: boolean}[],
  made: string[],
): Promise<OffsiteCopy[]> {
  const env = settings.env ?? process.env
  const store = await settings.store()
  const listed = await store.list()
  const wanted = new Set((settings.pick ? settings.pick(made) : made).map((p) => resolve(p)))
  const pathsOf = (a: Artifact) => [a.path, ...(a.paths ?? [])].map((p) => resolve(p))
  const artifacts = listed.filter((a) => pathsOf(a).some((p) => wanted.has(p)))
  // A run that wrote nothing new names its folder (zodb: "unchanged"): its newest artifact there is the copy.
  for (const folder of wanted) {
    if (listed.some((a) => pathsOf(a).includes(folder))) continue
    const inside = newestFirst(listed.filter((a) => !a.pinned && pathsOf(a).some((p) => p.startsWith(`${folder}/`))))
    if (inside[0] && !artifacts.includes(inside[0])) artifacts.push(inside[0])
  }
  if (artifacts.length === 0) {
    throw new BkError(`the backup made nothing ${store.location} lists; nothing was copied off-site`)
  }
  const copies: OffsiteCopy[] = []
  for (const {target, encrypted} of checked) {
    const names: string[] = []
    // A chain that grew (a repozo incremental) is copied again whole: the older copy of it is superseded.
    const before = target.kind === 'restic' ? await listEntries(target, settings.app, env) : []
    for (const artifact of artifacts) {
      const {entry, root} = await entryOf(settings.app, artifact, store.location)
      await copyEntry(target, entry, root, env)
      crashPoint('offsite-copied')
      names.push(entry.name)
    }
    await removeEntries(
      target,
      before.filter((e) => names.includes(e.name)),
      env,
    )
    const removed: string[] = []
    if (settings.policy) {
      const groups = new Set(artifacts.map((a) => a.group ?? ''))
      const entries = (await listEntries(target, settings.app, env)).filter((e) => groups.has(e.group ?? ''))
      const byArtifact = new Map<Artifact, OffsiteEntry>()
      for (const e of entries) byArtifact.set(entryArtifact(e), e)
      const decision = decidePrune([...byArtifact.keys()], {clock: store.clock, ...settings.policy})
      const doomed = decision.remove
        .map((a) => byArtifact.get(a) as OffsiteEntry)
        .filter((e) => !names.includes(e.name))
      await removeEntries(target, doomed, env)
      removed.push(...doomed.map((e) => e.name))
    }
    copies.push({target: target.text, tool: target.kind, encrypted, artifacts: names, removed})
  }
  return copies
}

/** Chooses entries: by name, every one (all), else the newest. */
function choose(entries: OffsiteEntry[], target: OffsiteTarget, app: string, options: {name?: string; all?: boolean}) {
  if (options.all) return entries
  const sorted = [...entries].sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : a.name < b.name ? 1 : -1))
  const chosen =
    options.name && options.name !== 'latest'
      ? sorted.filter((e) => e.name === options.name || e.path.split('/').pop() === options.name)
      : sorted.slice(0, 1)
  if (chosen.length === 0) {
    throw new BkError(
      options.name && options.name !== 'latest'
        ? `${target.text} holds no ${app} backup named ${options.name}; see what it holds with 'bk ${app} pull ${target.text} --list'`
        : `${target.text} holds no ${app} backup`,
    )
  }
  return chosen.slice(0, 1)
}

/** What `pull` brought back. */
export interface PullOutput {
  source: string
  tool: 'rclone' | 'restic'
  /** Main paths of the artifacts now in the location. */
  artifacts: {name: string; path: string; kind: string; bytes: number}[]
  /** Entries already present locally (with --all), left alone. */
  skipped: string[]
}

/**
 * Fetches entries into the location (a stage folder inside it, then renamed into place, the main path last: a
 * killed pull leaves no artifact that looks complete, and the next pull replaces what it placed). An artifact
 * whose main path already exists is refused (with --all: skipped).
 */
export async function pullEntries(
  source: string,
  app: string,
  location: string,
  options: {name?: string; all?: boolean; env?: NodeJS.ProcessEnv} = {},
): Promise<PullOutput> {
  const env = options.env ?? process.env
  const target = parseTarget(source)
  const chosen = choose(await listEntries(target, app, env), target, app, options)
  await mkdir(location, {recursive: true, mode: 0o700})
  const stage = join(location, `${PULL_STAGE}${process.pid}`)
  const unregister = onInterrupt(() => rmSync(stage, {recursive: true, force: true}), {sweep: true})
  const out: PullOutput = {source: target.text, tool: target.kind, artifacts: [], skipped: []}
  try {
    for (const entry of chosen) {
      const root = rootFor(entry, location)
      if (await pathExists(join(root, entry.path))) {
        if (options.all) {
          out.skipped.push(entry.name)
          continue
        }
        throw new BkError(
          `${join(root, entry.path)} already exists; restore or verify it directly, or move it away and pull again`,
        )
      }
      await rm(stage, {recursive: true, force: true})
      await mkdir(stage, {recursive: true, mode: 0o700})
      await fetchEntry(target, entry, stage, env)
      crashPoint('pull-fetched')
      // Every other file first, the main path last: the artifact appears under its name when whole.
      for (const rel of [...entry.files.filter((f) => f !== entry.path), entry.path]) {
        await mkdir(dirname(join(root, rel)), {recursive: true, mode: 0o700})
        // Without its main path, a file of the entry here is what a killed pull placed: replaced.
        if (rel !== entry.path) await rm(join(root, rel), {recursive: true, force: true})
        await rename(join(stage, rel), join(root, rel))
        crashPoint('pull-placed')
      }
      out.artifacts.push({name: entry.name, path: join(root, entry.path), kind: entry.kind, bytes: entry.bytes})
    }
    return out
  } finally {
    await rm(stage, {recursive: true, force: true})
    unregister()
  }
}

const PULL_STAGE = '.bk-pull-partial-'

/** Under the location's lock: removes the stage folders of killed pulls. Returns one line per removal. */
export async function recoverPull(location: string): Promise<string[]> {
  const names = await readdir(location).catch(() => [] as string[])
  const lines: string[] = []
  for (const name of names.filter((n) => n.startsWith(PULL_STAGE))) {
    await rm(join(location, name), {recursive: true, force: true})
    lines.push(`removed ${join(location, name)}: a pull that was interrupted`)
  }
  return lines
}

/** The plan of a pull (the remote is not read). */
export function planPullSteps(source: string, location: string, options: {name?: string; all?: boolean}): Plan {
  const target = parseTarget(source)
  const what = options.all ? 'every backup not here yet' : (options.name ?? 'the newest backup')
  return {
    summary: `pull ${what} from ${target.text} into ${location}`,
    steps: [
      step('copy', target.text, `${what} with every file that goes with it, through ${target.kind}`),
      step('create', location, 'under the names and folders it had'),
    ],
  }
}

/**
 * `verify --from`: fetches one entry into a scratch folder of the same shape, hands its main path to `check`,
 * and removes the scratch folder whatever happens.
 */
export async function withFetched<T>(
  source: string,
  app: string,
  name: string | undefined,
  check: (path: string, entry: OffsiteEntry) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const target = parseTarget(source)
  const [entry] = choose(await listEntries(target, app, env), target, app, {name})
  const scratch = await mkdtemp(join(tmpdir(), 'bk-verify-from-'))
  const unregister = onInterrupt(() => rmSync(scratch, {recursive: true, force: true}), {sweep: true})
  try {
    const chosen = entry as OffsiteEntry
    // A location of the same depth inside the scratch folder, so relative paths above it stay inside.
    const location = join(scratch, 'root', chosen.location)
    const root = rootFor(chosen, location)
    const stage = join(scratch, 'stage')
    await mkdir(stage, {recursive: true})
    await fetchEntry(target, chosen, stage, env)
    for (const rel of chosen.files) {
      await mkdir(dirname(join(root, rel)), {recursive: true})
      await rename(join(stage, rel), join(root, rel))
    }
    return await check(join(root, chosen.path), chosen)
  } finally {
    await rm(scratch, {recursive: true, force: true})
    unregister()
  }
}

/** Lists what a target holds for an app, newest first. */
export async function listOffsite(source: string, app: string, env: NodeJS.ProcessEnv = process.env) {
  const target = parseTarget(source)
  const entries = await listEntries(target, app, env)
  return entries.sort((a, b) => (a.date < b.date ? 1 : -1))
}
