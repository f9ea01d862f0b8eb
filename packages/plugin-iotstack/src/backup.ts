import {lstat, rmSync} from 'node:fs'
import {chown, copyFile, mkdir, stat} from 'node:fs/promises'
import {basename, dirname, join, relative} from 'node:path'
import {Catalog} from '@bkcli/core/catalog'
import {BkError, messageOf} from '@bkcli/core/errors'
import {sidecarPath} from '@bkcli/core/manifest'
import {atomicFile, crashPoint, onInterrupt} from '@bkcli/core/safety'
import {
  type CommitPart,
  commitParts,
  journalPathFor,
  type Plan,
  type PlanStep,
  step as planStep,
} from '@bkcli/core/workflow'
import {archiveMembersTo} from './archive-members.js'
import {loadComposeProject} from './compose-file.js'
import {type DumpResult, dumpDatabases} from './database-dumps.js'
import {findDatabaseServices, missingRequiredVariables} from './database-services.js'
import {ComposeDriver} from './docker-compose.js'
import {runStackHook} from './hook-scripts.js'
import {baseName, datedNamingFor, rollingNamingFor, type StackCompression, SUFFIX} from './naming.js'
import {resolveOwner} from './owner.js'
import {assertStackDir, presentMembers, type StackPaths, stackPaths} from './stack.js'
import {logTime, StackLog} from './stack-log.js'
import {clearStopped, markStopped, STOPPED_MARKER} from './stopped-marker.js'

/**
 * `bk iotstack backup`: IOTstack's backup.sh done right. Same archive layout and names (dated
 * `backups/backup/backup_%Y-%m-%d_%H%M.tar.gz`, rolling `backups/rolling/backup_<date +%u>.tar.gz`, local time), the
 * same log folder and hook points, plus what it misses: .env and the other members it drops, 0600 archives, a
 * sidecar manifest, exit status, retention, database dumps and off-site copies.
 */
export type BackupType = 'dated' | 'rolling' | 'both'

export interface BackupOptions {
  type?: BackupType
  /** Backup location (default `<stack>/backups`). */
  location?: string
  /** Give the artifacts to this user (root only). */
  user?: string
  /**
   * Copy the stack while it runs (`--live`). By default, as IOTstack's backup.sh, a running stack is brought down
   * (`docker compose down`) for the copy and up again afterwards, also after a failure or on SIGINT/SIGTERM.
   */
  live?: boolean
  /** `--stop`: the default, asked by name: a missing Docker Compose is an error instead of a warning. */
  stop?: boolean
  dumpDatabases?: boolean
  /** gzip (IOTstack's .tar.gz, the default) or zstd (.tar.zst: much faster; IOTstack's restore.sh cannot read it). */
  compression?: StackCompression
  /** Kind recorded in the sidecar manifest ('full', or 'pre-restore' for restore's safety copy). */
  kind?: string
  now?: Date
  env?: NodeJS.ProcessEnv
  /** Narration for the command (what is happening now). */
  onStep?: (text: string) => void
}

export interface BackupArchive {
  kind: 'dated' | 'rolling'
  path: string
  bytes: number
  sha256: string
  /** The rolling slot's previous archive was replaced. */
  overwritten?: boolean
}

export interface BackupResult {
  stack: string
  archives: BackupArchive[]
  log: string
  members: string[]
  entries: number
  includesEnv: boolean
  stopped: boolean
  /** The stack was running and kept running (--live): database files may be mid-write. */
  liveCopy: boolean | 'unknown'
  /** With --live: a warning that --quiet does not hide, when no dump covers the running databases. */
  liveWarning?: string
  hooks: {preBackup: boolean; postBackup: boolean}
  dumps: DumpResult[]
  warnings: string[]
  owner?: string
}

/**
 * Runs a backup (core's workflow has locked the stack and its location and recovered what killed runs left).
 * The archive and its sidecar are staged under `.<name>.bk-stage-<pid>` names beside their targets and published
 * together through one commit journal (with the rolling slot's previous pair and a slot of the other compression):
 * a run killed at any instant leaves the previous pair or the new one, and the next run finishes the commit.
 */
export async function backupStack(stackDir: string, options: BackupOptions = {}): Promise<BackupResult> {
  const paths = stackPaths(stackDir, options.location)
  await assertStackDir(paths.dir)
  return runBackup(paths, options)
}

async function runBackup(paths: StackPaths, options: BackupOptions): Promise<BackupResult> {
  const type = options.type ?? 'both'
  const now = options.now ?? new Date()
  const env = options.env ?? process.env
  const step = options.onStep ?? (() => {})
  // Docker Compose's version probe (a program start-up or two) runs while the folders, the log and the compose file
  // are prepared; its answer is awaited where it is needed, as before.
  const opening = ComposeDriver.open(paths.dir, env).then(
    (driver) => ({driver}),
    (error: unknown) => ({error}),
  )
  const owner = await resolveOwner(options.user)
  const warnings: string[] = []

  const folders = await makeDirs(paths, type)
  const compression = options.compression ?? 'gzip'
  const dated = new Catalog(paths.dated, datedNamingFor(compression), {manifests: false})
  const datedName = await dated.nextName(now)
  const rollingName = rollingNamingFor(compression).format(now)
  const logFile = await freeName(join(paths.logs, `${baseName(datedName)}.log`))
  const log = await StackLog.open(logFile)

  const targets: {kind: 'dated' | 'rolling'; path: string}[] = []
  if (type !== 'rolling') targets.push({kind: 'dated', path: join(paths.dated, datedName)})
  if (type !== 'dated') targets.push({kind: 'rolling', path: join(paths.rolling, rollingName)})

  await log.line('### bk iotstack backup log ###')
  await log.line(`Started At: ${logTime(now)}`)
  await log.line(`Current Directory: ${paths.dir}`)
  await log.line(`Backup Type: ${type}`)
  for (const t of targets)
    await log.line(`${t.kind === 'dated' ? 'Backup' : 'Rolling'} File: ${relative(paths.dir, t.path)}`)
  await log.line()

  const result: BackupResult = {
    stack: paths.dir,
    archives: [],
    log: logFile,
    members: [],
    entries: 0,
    includesEnv: false,
    stopped: false,
    liveCopy: 'unknown',
    hooks: {preBackup: false, postBackup: false},
    dumps: [],
    warnings,
    owner: owner?.name,
  }

  let driver: ComposeDriver | undefined
  let wasUp = false
  let unregister = () => {}
  let failure: unknown
  let preRan = false
  try {
    const project = await loadComposeProject(paths.dir, env)
    const missing = missingRequiredVariables(project)
    if (missing.length > 0) {
      warnings.push(
        `.env does not set ${missing.join(', ')}, which docker-compose.yml requires: docker compose will refuse to start the stack`,
      )
    }
    const live = options.live === true
    // Stopping is the default: Docker Compose is needed, except that a machine without it cannot run the stack.
    const opened = await opening
    if ('error' in opened && (options.stop || options.dumpDatabases)) throw opened.error
    driver = 'driver' in opened ? opened.driver : undefined
    if (driver) wasUp = await driver.isUp()
    else if (!live)
      warnings.push(
        'docker compose is not available here: bk could not check whether the stack runs (if it does, bring it down first)',
      )
    if (options.dumpDatabases) {
      const dbs = findDatabaseServices(project)
      if (dbs.length === 0)
        warnings.push('--dump-databases: no MariaDB, PostgreSQL or InfluxDB service in the compose file')
      else if (!wasUp)
        throw new BkError('--dump-databases needs the stack running (docker compose up -d), and it is down')
      await log.line('Dumping databases')
      for (const db of dbs) step(`Dumping ${db.service} (${db.engine})`)
      result.dumps = await dumpDatabases(paths.dir, dbs, driver!)
      for (const d of result.dumps) await log.line(`${d.service}: ${d.file} (${d.bytes} bytes)`)
      await log.line()
    }
    if (!live && driver) {
      if (wasUp) {
        step(`Stopping the stack (${driver.name} down)`)
        await log.line(`${driver.name} down`)
        await markStopped(paths, driver.name)
        const up = driver
        unregister = onInterrupt(() => {
          if (up.upSync()) rmSync(join(paths.backups, STOPPED_MARKER), {force: true})
        })
        result.stopped = true
        await driver.down()
      } else {
        await log.line('Stack not running: nothing to stop')
      }
    }
    result.liveCopy = live ? (driver ? wasUp : 'unknown') : driver ? false : 'unknown'
    if (live && result.liveCopy !== false && !options.dumpDatabases) {
      const dbs = findDatabaseServices(project).map((db) => db.service)
      if (dbs.length > 0) {
        result.liveWarning = `--live: the stack ${result.liveCopy === true ? 'kept running' : 'may be running'} and no dump covers its databases (${dbs.join(', ')}): their files may be copied mid-write and not restore; add --dump-databases, or leave out --live`
        await log.line(`Warning: ${result.liveWarning}`)
      }
    }

    await log.line('Executing prebackup scripts')
    preRan = true
    const pre = await runStackHook(paths.dir, 'pre_backup.sh', {logFile})
    result.hooks.preBackup = pre.ran
    await log.line(pre.ran ? './pre_backup.sh ran' : 'No ./pre_backup.sh')

    const members = await presentMembers(paths.dir)
    result.members = members
    result.includesEnv = members.includes('.env')
    step(`Archiving ${members.join(', ')}`)
    const published = await publish(paths, targets, {
      members,
      kind: options.kind ?? 'full',
      dumps: result.dumps,
      now,
      compression,
    })
    const archive = published.archive
    result.entries = archive.entries
    for (const skipped of archive.skipped) warnings.push(`left out (not a file, folder or link): ${skipped}`)
    result.archives.push(...published.archives)
    const rolling = result.archives.find((a) => a.kind === 'rolling')
    if (rolling) await log.line(`Rolling Overwritten: ${rolling.overwritten ? 'True' : 'False'}`)
    await log.line(`Backup Size (bytes): ${archive.bytes}`)
    await log.line(`sha256: ${archive.sha256}`)
    await log.line()
  } catch (error) {
    failure = error
  }

  // After the copy, whatever happened: post_backup.sh (if the pre-hook was reached), then the stack back up. A log
  // that cannot be written any more (its disk full) must not keep the stack down: from here a failed log line is
  // recorded as the run's failure and everything else still happens.
  let logFailure: unknown
  const note = async (text = '') => {
    if (logFailure) return
    await log.line(text).catch((error: unknown) => {
      logFailure = error
    })
  }
  if (preRan) {
    try {
      await note('Executing postbackup scripts')
      const post = await runStackHook(paths.dir, 'post_backup.sh', {
        logFile,
        env: {BK_STATUS: failure ? 'failed' : 'ok', ...(failure ? {BK_ERROR: messageOf(failure)} : {})},
      })
      result.hooks.postBackup = post.ran
      await note(post.ran ? './post_backup.sh ran' : 'No ./post_backup.sh')
    } catch (error) {
      failure = mention(failure, error)
    }
  }
  if (result.stopped) {
    try {
      step(`Starting the stack (${driver!.name} up -d)`)
      await note(`${driver!.name} up -d`)
      await driver!.up()
      unregister()
      await clearStopped(paths)
    } catch (error) {
      failure = mention(failure, error)
    }
  }
  unregister()

  await note()
  await note(`Finished At: ${logTime()}`)
  await note()
  await note('Items backed up:')
  for (const m of result.members) await note(`./${m}`)
  for (const w of warnings) await note(`Warning: ${w}`)
  await note(failure ? `Result: FAILED: ${messageOf(failure)}` : 'Result: ok')
  await note('### End of log ###')
  await log.close().catch((error: unknown) => {
    logFailure ??= error
  })
  if (logFailure && !failure) failure = logFailure

  if (owner) {
    const files = [logFile, ...result.archives.flatMap((a) => [a.path, `${a.path}.bk.json`]), ...folders]
    for (const file of files) await chown(file, owner.uid, owner.gid).catch(() => {})
  }
  if (failure) {
    const message = messageOf(failure)
    throw new BkError(`backup failed: ${message} (log: ${relative(paths.dir, logFile)})`, {
      cause: failure,
      exit: failure instanceof BkError ? failure.exit : 1,
    })
  }
  return result
}

/**
 * Creates the backup folders (0700: archives hold .env); returns the ones that --user gives to the user: every
 * folder the backup writes into (also when an earlier root run made them), and the location folder itself when
 * it is the stack's own backups/ or this run made it (never a --location folder of someone else, e.g. a mount).
 */
async function makeDirs(paths: StackPaths, type: BackupType): Promise<string[]> {
  const wanted = [
    paths.backups,
    paths.logs,
    ...(type !== 'rolling' ? [paths.dated] : []),
    ...(type !== 'dated' ? [paths.rolling] : []),
  ]
  const created: string[] = []
  for (const dir of wanted) {
    const exists = await stat(dir).then(
      () => true,
      () => false,
    )
    if (!exists) {
      await mkdir(dir, {recursive: true, mode: 0o700})
      created.push(dir)
    }
  }
  const own = created.includes(paths.backups) || paths.backups === join(paths.dir, 'backups')
  return wanted.filter((dir) => dir !== paths.backups || own)
}

/** `path`, or `<base>_1.log`, `_2`… when a run of the same minute already wrote it (IOTstack overwrote it). */
async function freeName(path: string): Promise<string> {
  const exists = (p: string) =>
    stat(p).then(
      () => true,
      () => false,
    )
  let candidate = path
  for (let n = 1; await exists(candidate); n++) candidate = path.replace(/\.log$/, `_${n}.log`)
  return candidate
}

function mention(first: unknown, next: unknown): unknown {
  if (!first) return next
  return new BkError(`${messageOf(first)}; also: ${messageOf(next)}`, {cause: first})
}

const exists = (path: string) => new Promise<boolean>((resolve) => lstat(path, (error) => resolve(!error)))

/** The other compression's archive of a rolling slot (`backup_3.tar.gz` when writing `backup_3.tar.zst`). */
function otherSlots(path: string): string[] {
  return Object.values(SUFFIX)
    .map((suffix) => path.replace(/\.tar\.(gz|zst)$/, suffix))
    .filter((other) => other !== path)
}

/**
 * Stage the archive (and a copy for the second target) with their sidecars, then swap them all in with one
 * commit. The dated name is new; the rolling slot's previous archive+sidecar are replaced as a pair.
 */
async function publish(
  paths: StackPaths,
  targets: {kind: 'dated' | 'rolling'; path: string}[],
  info: {members: string[]; kind: string; dumps: DumpResult[]; now: Date; compression: StackCompression},
): Promise<{archive: Awaited<ReturnType<typeof archiveMembersTo>>; archives: BackupArchive[]}> {
  const stageOf = (path: string) => join(dirname(path), `.${basename(path)}.bk-stage-${process.pid}`)
  const first = targets[0]!
  const firstStage = stageOf(first.path)
  const archive = await archiveMembersTo(paths, firstStage, {...info, overwrite: true})
  const parts: CommitPart[] = []
  const archives: BackupArchive[] = []
  for (const t of targets) {
    const stage = stageOf(t.path)
    if (t !== first) {
      await atomicFile(stage, (tmp) => copyFile(firstStage, tmp), {mode: 0o600, overwrite: true})
      await atomicFile(sidecarPath(stage), (tmp) => copyFile(sidecarPath(firstStage), tmp), {
        mode: 0o644,
        overwrite: true,
      })
    }
    let overwritten = (await exists(t.path)) || undefined
    // Sidecar first: mid-commit, an archive never sits beside a sidecar that vouches for it wrongly unnoticed.
    parts.push({stage: sidecarPath(stage), target: sidecarPath(t.path)}, {stage, target: t.path})
    if (t.kind === 'rolling') {
      // One archive per weekday slot: a slot written with the other compression before goes in the same commit.
      for (const other of otherSlots(t.path)) {
        if (!(await exists(other))) continue
        parts.push({stage: null, target: other})
        if (await exists(sidecarPath(other))) parts.push({stage: null, target: sidecarPath(other)})
        overwritten = true
      }
    }
    archives.push({kind: t.kind, path: t.path, bytes: archive.bytes, sha256: archive.sha256, overwritten})
  }
  crashPoint('iotstack:backup:staged')
  await commitParts(parts, {journal: journalPathFor(first.path)})
  return {archive, archives}
}

/** What a backup would do, computed without changing anything (core prints it under --dry-run). */
export async function planBackup(stackDir: string, options: BackupOptions = {}): Promise<Plan> {
  const paths = stackPaths(stackDir, options.location)
  await assertStackDir(paths.dir)
  const type = options.type ?? 'both'
  const now = options.now ?? new Date()
  await resolveOwner(options.user)
  const members = await presentMembers(paths.dir)
  const steps: PlanStep[] = []
  if (options.dumpDatabases)
    steps.push(planStep('run', 'docker compose exec', 'dump MariaDB/PostgreSQL/InfluxDB services'))
  if (!options.live) steps.push(planStep('stop', paths.dir, 'docker compose down, if the stack runs'))
  if (await exists(join(paths.dir, 'pre_backup.sh'))) steps.push(planStep('run', join(paths.dir, 'pre_backup.sh')))
  const detail = `${members.join(', ')}${members.includes('.env') ? '' : ' (no .env in the stack)'}`
  if (type !== 'rolling') {
    const name = await new Catalog(paths.dated, datedNamingFor(options.compression), {manifests: false}).nextName(now)
    steps.push(planStep('create', join(paths.dated, name), `dated archive of ${detail}, with its .bk.json`))
  }
  if (type !== 'dated') {
    const path = join(paths.rolling, rollingNamingFor(options.compression).format(now))
    const replaced = await exists(path)
    steps.push(planStep(replaced ? 'replace' : 'create', path, `rolling archive of ${detail}, with its .bk.json`))
    for (const other of otherSlots(path))
      if (await exists(other)) steps.push(planStep('remove', other, 'the same weekday slot, other compression'))
  }
  if (await exists(join(paths.dir, 'post_backup.sh'))) steps.push(planStep('run', join(paths.dir, 'post_backup.sh')))
  if (!options.live) steps.push(planStep('start', paths.dir, 'docker compose up -d, if it was up'))
  steps.push(planStep('write', paths.logs, 'the run log'))
  if (options.user)
    steps.push(planStep('write', paths.backups, `owner ${options.user}: the archives, the log and the backup folders`))
  return {summary: `back up ${paths.dir} into ${paths.backups}`, steps}
}

/** The dated archive a backup will add (for retention's plan under --dry-run). */
export async function upcomingName(stackDir: string, options: BackupOptions = {}): Promise<string | undefined> {
  if (options.type === 'rolling') return undefined
  const paths = stackPaths(stackDir, options.location)
  return join(
    paths.dated,
    await new Catalog(paths.dated, datedNamingFor(options.compression), {manifests: false}).nextName(
      options.now ?? new Date(),
    ),
  )
}
