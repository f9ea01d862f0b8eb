import {chown, copyFile, mkdir, rm, stat} from 'node:fs/promises'
import {basename, join, relative} from 'node:path'
import {
  acquireLock,
  atomicFile,
  BkError,
  Catalog,
  hasRetention,
  messageOf,
  planRetention,
  prune,
  type RetentionPolicy,
} from '@bkcli/core'
import {archiveMembersTo} from './archive-members.js'
import {loadComposeProject} from './compose-file.js'
import {type DumpResult, dumpDatabases} from './database-dumps.js'
import {findDatabaseServices, missingRequiredVariables} from './database-services.js'
import {ComposeDriver} from './docker-compose.js'
import {runStackHook} from './hook-scripts.js'
import {baseName, datedNamingFor, rollingNamingFor, type StackCompression, SUFFIX} from './naming.js'
import {type CopyResult, copyToTarget, isEncrypting, parseTarget} from './offsite.js'
import {resolveOwner} from './owner.js'
import {recoverInterruptedRestore} from './restore-swap.js'
import {assertStackDir, presentMembers, type StackPaths, stackPaths} from './stack.js'
import {logTime, StackLog} from './stack-log.js'

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
  /** Bring the stack down around the copy (and up again), as IOTstack does. */
  stop?: boolean
  dumpDatabases?: boolean
  /** Retention for the dated archives. */
  retention?: RetentionPolicy
  copyTo?: string[]
  allowUnencrypted?: boolean
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
  /** The stack was running and kept running (no --stop): database files may be mid-write. */
  liveCopy: boolean | 'unknown'
  hooks: {preBackup: boolean; postBackup: boolean}
  dumps: DumpResult[]
  pruned: string[]
  copies: CopyResult[]
  warnings: string[]
  owner?: string
}

export async function backupStack(stackDir: string, options: BackupOptions = {}): Promise<BackupResult> {
  const paths = stackPaths(stackDir, options.location)
  await assertStackDir(paths.dir)
  const lock = await acquireLock(paths.dir, {operation: 'bk iotstack backup'})
  try {
    await recoverInterruptedRestore(paths.dir)
    return await runBackup(paths, options)
  } finally {
    await lock.release()
  }
}

async function runBackup(paths: StackPaths, options: BackupOptions): Promise<BackupResult> {
  const type = options.type ?? 'both'
  const now = options.now ?? new Date()
  const env = options.env ?? process.env
  const step = options.onStep ?? (() => {})
  const owner = await resolveOwner(options.user)
  const warnings: string[] = []

  // Refuse an unencrypted off-site target before doing anything, not after the copy.
  const holdsEnv = (await presentMembers(paths.dir)).includes('.env')
  for (const text of options.copyTo ?? []) {
    const target = parseTarget(text)
    if (holdsEnv && !options.allowUnencrypted && !(await isEncrypting(target, env))) {
      throw new BkError(
        `--copy-to ${text} does not encrypt and the archive will hold .env (passwords): use restic or an rclone crypt remote, or pass --allow-unencrypted`,
      )
    }
  }
  const created = await makeDirs(paths, type)
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
    pruned: [],
    copies: [],
    warnings,
    owner: owner?.name,
  }

  let driver: ComposeDriver | undefined
  let wasUp = false
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
    if (options.stop || options.dumpDatabases) {
      driver = await ComposeDriver.open(paths.dir, env)
      wasUp = await driver.isUp()
    }
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
    if (options.stop) {
      if (wasUp) {
        step(`Stopping the stack (${driver!.name} down)`)
        await log.line(`${driver!.name} down`)
        await driver!.down()
        result.stopped = true
      } else {
        await log.line('Stack not running: nothing to stop')
      }
    }
    result.liveCopy = options.stop ? false : driver ? wasUp : 'unknown'

    await log.line('Executing prebackup scripts')
    preRan = true
    const pre = await runStackHook(paths.dir, 'pre_backup.sh', {logFile})
    result.hooks.preBackup = pre.ran
    await log.line(pre.ran ? './pre_backup.sh ran' : 'No ./pre_backup.sh')

    const members = await presentMembers(paths.dir)
    result.members = members
    result.includesEnv = members.includes('.env')
    step(`Archiving ${members.join(', ')}`)
    const existed = new Set<string>()
    for (const t of targets)
      if (
        await stat(t.path).then(
          () => true,
          () => false,
        )
      )
        existed.add(t.path)
    const first = targets[0]!
    const archive = await archiveMembersTo(paths, first.path, {
      members,
      kind: options.kind ?? 'full',
      dumps: result.dumps,
      overwrite: first.kind === 'rolling',
      now,
    })
    result.entries = archive.entries
    for (const skipped of archive.skipped) warnings.push(`left out (not a file, folder or link): ${skipped}`)
    const overwritten = (path: string) => (existed.has(path) ? true : undefined)
    result.archives.push({
      kind: first.kind,
      path: first.path,
      bytes: archive.bytes,
      sha256: archive.sha256,
      overwritten: overwritten(first.path),
    })

    for (const t of targets.slice(1)) {
      await atomicFile(t.path, (tmp) => copyFile(first.path, tmp), {mode: 0o600, overwrite: true})
      await atomicFile(`${t.path}.bk.json`, (tmp) => copyFile(`${first.path}.bk.json`, tmp), {
        mode: 0o644,
        overwrite: true,
      })
      result.archives.push({
        kind: t.kind,
        path: t.path,
        bytes: archive.bytes,
        sha256: archive.sha256,
        overwritten: overwritten(t.path),
      })
    }
    const rolling = result.archives.find((a) => a.kind === 'rolling')
    if (rolling) {
      // One archive per weekday slot: a slot written with the other compression before is replaced too.
      for (const suffix of Object.values(SUFFIX)) {
        const other = rolling.path.replace(/\.tar\.(gz|zst)$/, suffix)
        if (
          other === rolling.path ||
          !(await stat(other).then(
            () => true,
            () => false,
          ))
        )
          continue
        await rm(other, {force: true})
        await rm(`${other}.bk.json`, {force: true})
        rolling.overwritten = true
      }
    }
    if (rolling) await log.line(`Rolling Overwritten: ${rolling.overwritten ? 'True' : 'False'}`)
    await log.line(`Backup Size (bytes): ${archive.bytes}`)
    await log.line(`sha256: ${archive.sha256}`)
    await log.line()
  } catch (error) {
    failure = error
  }

  // After the copy, whatever happened: post_backup.sh (if the pre-hook was reached), then the stack back up.
  if (preRan) {
    try {
      await log.line('Executing postbackup scripts')
      const post = await runStackHook(paths.dir, 'post_backup.sh', {
        logFile,
        env: {BK_STATUS: failure ? 'failed' : 'ok', ...(failure ? {BK_ERROR: messageOf(failure)} : {})},
      })
      result.hooks.postBackup = post.ran
      await log.line(post.ran ? './post_backup.sh ran' : 'No ./post_backup.sh')
    } catch (error) {
      failure = mention(failure, error)
    }
  }
  if (result.stopped) {
    try {
      step(`Starting the stack (${driver!.name} up -d)`)
      await log.line(`${driver!.name} up -d`)
      await driver!.up()
    } catch (error) {
      failure = mention(failure, error)
    }
  }

  if (!failure) {
    try {
      if (options.retention && hasRetention(options.retention)) {
        const plan = planRetention(await dated.list(), options.retention, now)
        result.pruned = await prune(plan)
        for (const p of result.pruned) await log.line(`Pruned: ${relative(paths.dir, p)}`)
      }
      for (const text of options.copyTo ?? []) {
        const archive = result.archives[0]!
        step(`Copying ${basename(archive.path)} to ${text}`)
        const copy = await copyToTarget(parseTarget(text), [archive.path, `${archive.path}.bk.json`], {
          holdsSecrets: result.includesEnv,
          allowUnencrypted: options.allowUnencrypted,
          env,
        })
        result.copies.push(copy)
        await log.line(`Copied to ${text} (${copy.tool}${copy.encrypted ? ', encrypted' : ', NOT encrypted'})`)
      }
    } catch (error) {
      failure = error
    }
  }

  await log.line()
  await log.line(`Finished At: ${logTime()}`)
  await log.line()
  await log.line('Items backed up:')
  for (const m of result.members) await log.line(`./${m}`)
  for (const w of warnings) await log.line(`Warning: ${w}`)
  await log.line(failure ? `Result: FAILED: ${messageOf(failure)}` : 'Result: ok')
  await log.line('### End of log ###')
  await log.close()

  if (owner) {
    const files = [logFile, ...result.archives.flatMap((a) => [a.path, `${a.path}.bk.json`]), ...created]
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

/** Creates the backup folders (0700: archives hold .env); returns the ones it created, for --user. */
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
  return created
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

export interface BackupPlan {
  stack: string
  members: string[]
  targets: string[]
  includesEnv: boolean
}

/** --dry-run: what a backup would archive and where, changing nothing. */
export async function planBackup(stackDir: string, options: BackupOptions = {}): Promise<BackupPlan> {
  const paths = stackPaths(stackDir, options.location)
  await assertStackDir(paths.dir)
  const type = options.type ?? 'both'
  const now = options.now ?? new Date()
  const members = await presentMembers(paths.dir)
  const targets: string[] = []
  if (type !== 'rolling')
    targets.push(
      join(
        paths.dated,
        await new Catalog(paths.dated, datedNamingFor(options.compression), {manifests: false}).nextName(now),
      ),
    )
  if (type !== 'dated') targets.push(join(paths.rolling, rollingNamingFor(options.compression).format(now)))
  return {stack: paths.dir, members, targets, includesEnv: members.includes('.env')}
}
