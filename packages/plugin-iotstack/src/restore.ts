import {lstat, mkdir, readdir, rm} from 'node:fs/promises'
import {isAbsolute, join, relative, resolve} from 'node:path'
import {acquireLock, BkError, checkArchive, extractArchive, messageOf, sha256File} from '@bkcli/core'
import {archiveStackMembers} from './archive-members.js'
import {loadComposeProject} from './compose-file.js'
import {type LoadResult, loadDatabaseDumps, presentDumps} from './database-dumps.js'
import {findDatabaseServices} from './database-services.js'
import {ComposeDriver} from './docker-compose.js'
import {runStackHook} from './hook-scripts.js'
import {finishSwap, PREV_PREFIX, recoverInterruptedRestore, STAGE_PREFIX, swapMembers} from './restore-swap.js'
import {readSidecar} from './sidecar.js'
import {NEVER_IN_IOTSTACK_ARCHIVES, presentMembers, STACK_MEMBERS, stackPaths} from './stack.js'
import {logTime, StackLog} from './stack-log.js'

/**
 * `bk iotstack restore`: what IOTstack's restore.sh should do. The whole archive is read and checked before
 * anything changes; it is extracted beside the stack; the stack is brought down if it runs (files open in running
 * containers must not be replaced under them); a safety archive of the current members is taken; the members are
 * swapped in as one step (restore-swap.ts); `post_restore.sh` runs; optionally database dumps are loaded back and
 * the stack started. `backups/` (and its logs) is never touched.
 */
export interface RestoreOptions {
  location?: string
  /** Bring the stack up afterwards (`docker compose up -d`). */
  start?: boolean
  /** Load the dumps taken by `backup --dump-databases` back into their services. */
  restoreDatabases?: boolean
  /** Called once the archive is checked, before anything changes; throw to abort. */
  confirm?: (plan: RestorePlan) => Promise<void>
  env?: NodeJS.ProcessEnv
  now?: Date
  onStep?: (text: string) => void
  /** Readiness wait for --restore-databases. */
  readyTimeoutMs?: number
  readyIntervalMs?: number
}

export interface RestorePlan {
  archive: string
  stack: string
  entries: number
  /** Made by bk (has a sidecar manifest) or by IOTstack's backup.sh. */
  madeBy: 'bk' | 'iotstack'
  includesEnv: boolean
}

export interface RestoreResult extends RestorePlan {
  restored: string[]
  /** Current members kept because the archive lacks them and IOTstack never archived them (.env …). */
  kept: string[]
  /** Current members moved out because the archive lacks them (they are in the safety archive). */
  removed: string[]
  safetyArchive?: string
  stoppedStack: boolean
  started: boolean
  postRestoreHook: boolean
  databases: LoadResult[]
  log: string
  warnings: string[]
}

export async function restoreStack(
  archiveArg: string,
  stackDir: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const paths = stackPaths(stackDir, options.location)
  const archive = await findArchive(archiveArg, paths)
  await mkdir(paths.dir, {recursive: true})
  const lock = await acquireLock(paths.dir, {operation: 'bk iotstack restore'})
  try {
    await recoverInterruptedRestore(paths.dir)
    return await runRestore(archive, paths, options)
  } finally {
    await lock.release()
  }
}

/** A path, else (like restore.sh) a name under `<stack>/backups/`, also looked up in backup/, rolling/, pre-restore/. */
export async function findArchive(arg: string, paths: ReturnType<typeof stackPaths>): Promise<string> {
  const candidates = isAbsolute(arg)
    ? [arg]
    : [
        resolve(arg),
        join(paths.backups, arg),
        join(paths.dated, arg),
        join(paths.rolling, arg),
        join(paths.preRestore, arg),
      ]
  for (const candidate of candidates) {
    const st = await lstat(candidate).catch(() => undefined)
    if (st?.isFile()) return candidate
  }
  throw new BkError(
    `no archive '${arg}' (looked in ${relative(process.cwd(), paths.backups) || '.'} and its backup/, rolling/ folders); list them with 'bk iotstack list'`,
  )
}

async function runRestore(
  archive: string,
  paths: ReturnType<typeof stackPaths>,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const now = options.now ?? new Date()
  const env = options.env ?? process.env
  const step = options.onStep ?? (() => {})
  const warnings: string[] = []

  // 1. Read the whole archive through before anything changes.
  step(`Checking ${archive}`)
  const sidecar = await readSidecar(archive)
  const check = await checkArchive(archive)
  if (check.unsafe.length > 0) {
    throw new BkError(`${archive} holds entries bk will not extract (${check.unsafe[0]}); nothing was changed`)
  }
  if (sidecar) {
    const actual = await sha256File(archive)
    if (actual !== sidecar.extra.archive.sha256) {
      throw new BkError(
        `${archive} does not match its manifest (sha256 differs): it changed since bk wrote it; nothing was changed`,
      )
    }
  }

  const stamp = logTime(now).replace(/T(\d\d)-(\d\d)-\d\d$/, '_$1$2')
  const logFile = join(paths.logs, `restore_${stamp}.log`)
  const stage = join(paths.dir, `${STAGE_PREFIX}${process.pid}`)
  const prev = join(paths.dir, `${PREV_PREFIX}${process.pid}`)
  await rm(stage, {recursive: true, force: true})

  // 2. Extract beside the stack (same file system, so the swap is renames only).
  step('Extracting into a staging folder beside the stack')
  let log: StackLog | undefined
  let driver: ComposeDriver | undefined
  let stoppedStack = false
  let swapped = false
  try {
    await extractArchive({file: archive, target: stage, precheck: false})
    const staged = (await readdir(stage)).filter((n) => n !== 'backups' && !n.startsWith('.bk-'))
    if (!staged.some((n) => n === 'docker-compose.yml' || n === 'services' || n === 'volumes')) {
      throw new BkError(
        `${archive} is not an IOTstack backup (no docker-compose.yml, services/ or volumes/); nothing was changed`,
      )
    }
    const includesEnv = staged.includes('.env')
    const plan: RestorePlan = {
      archive,
      stack: paths.dir,
      entries: check.entries,
      madeBy: sidecar ? 'bk' : 'iotstack',
      includesEnv,
    }
    await options.confirm?.(plan)

    log = await StackLog.open(logFile)
    await log.line('### bk iotstack restore log ###')
    await log.line(`Started At: ${logTime(now)}`)
    await log.line(`Current Directory: ${paths.dir}`)
    await log.line(
      `Restore File: ${archive} (${plan.madeBy === 'bk' ? 'bk archive, manifest checked' : 'IOTstack archive'})`,
    )
    await log.line(`Entries checked: ${check.entries}`)
    const current = await presentMembers(paths.dir)
    if (!includesEnv) {
      const text = current.includes('.env')
        ? 'the archive holds no .env (IOTstack backups never do): the current .env is kept'
        : 'the archive holds no .env (IOTstack backups never do) and the folder has none: services whose passwords come from .env will not start until you recreate it'
      warnings.push(text)
      await log.line(`Note: ${text}`)
    }

    // 3. Files open in running containers must not be replaced under them.
    const hasCompose = current.includes('docker-compose.yml')
    const canAsk = hasCompose && (options.start || options.restoreDatabases || (await composeAvailable(paths.dir, env)))
    if (hasCompose && !canAsk) {
      warnings.push(
        'docker compose is not available here: bk could not check whether the stack runs (stop it first if it does)',
      )
    }
    if (canAsk) {
      driver = await ComposeDriver.open(paths.dir, env)
      if (await driver.isUp()) {
        step(`Stopping the stack (${driver.name} down)`)
        await log.line(`${driver.name} down`)
        await driver.down()
        stoppedStack = true
      }
    }

    // 4. Safety archive of what is there now.
    let safetyArchive: string | undefined
    if (current.length > 0) {
      step('Taking a safety archive of the current stack')
      const made = await archiveStackMembers(paths, {
        folder: paths.preRestore,
        kind: 'pre-restore',
        now,
        members: current,
      })
      safetyArchive = made.path
      await log.line(`Safety archive: ${relative(paths.dir, made.path)}`)
    }

    // 5. Swap the members in.
    const remove = current.filter(
      (m) => !staged.includes(m) && !(NEVER_IN_IOTSTACK_ARCHIVES as readonly string[]).includes(m),
    )
    const kept = current.filter(
      (m) => !staged.includes(m) && (NEVER_IN_IOTSTACK_ARCHIVES as readonly string[]).includes(m),
    )
    await mkdir(prev, {recursive: true, mode: 0o700})
    step('Putting the restored files in place')
    const swap = {dir: paths.dir, stage, prev, bring: orderMembers(staged), remove}
    await swapMembers(swap)
    swapped = true
    await finishSwap(swap)
    await log.line(`Restored: ${swap.bring.join(', ')}`)
    if (kept.length > 0) await log.line(`Kept (not in the archive): ${kept.join(', ')}`)
    if (remove.length > 0) await log.line(`Removed (not in the archive; in the safety archive): ${remove.join(', ')}`)

    const result: RestoreResult = {
      ...plan,
      restored: swap.bring,
      kept,
      removed: remove,
      safetyArchive,
      stoppedStack,
      started: false,
      postRestoreHook: false,
      databases: [],
      log: logFile,
      warnings,
    }

    // 6. After the files: post_restore.sh, databases, start.
    let failure: unknown
    try {
      await log.line('Executing postrestore scripts')
      const hook = await runStackHook(paths.dir, 'post_restore.sh', {logFile})
      result.postRestoreHook = hook.ran
      await log.line(hook.ran ? './post_restore.sh ran' : 'No ./post_restore.sh')
      if (options.restoreDatabases || options.start) driver ??= await ComposeDriver.open(paths.dir, env)
      if (options.restoreDatabases) {
        const project = await loadComposeProject(paths.dir, env)
        const dumps = await presentDumps(paths.dir, findDatabaseServices(project))
        if (dumps.length === 0)
          warnings.push('--restore-databases: the archive holds no dump taken by --dump-databases')
        for (const db of dumps) step(`Loading ${db.dumpDir}/${db.dumpFile} into ${db.service}`)
        result.databases = await loadDatabaseDumps(paths.dir, dumps, driver!, {
          timeoutMs: options.readyTimeoutMs,
          intervalMs: options.readyIntervalMs,
        })
        for (const d of result.databases) await log.line(`Loaded ${d.file} into ${d.service}`)
      }
      if (options.start) {
        step(`Starting the stack (${driver!.name} up -d)`)
        await log.line(`${driver!.name} up -d`)
        await driver!.up()
        result.started = true
      }
    } catch (error) {
      failure = error
    }
    await log.line(`Finished At: ${logTime()}`)
    await log.line(failure ? `Result: files restored, then FAILED: ${messageOf(failure)}` : 'Result: ok')
    await log.close()
    log = undefined
    if (failure) {
      throw new BkError(
        `the files were restored, but then: ${messageOf(failure)} (log: ${relative(paths.dir, logFile)})`,
        {
          cause: failure,
        },
      )
    }
    return result
  } catch (error) {
    await rm(stage, {recursive: true, force: true})
    await rm(prev, {recursive: true, force: true}).catch(() => {})
    if (log) {
      await log.line(`Result: FAILED, the stack's files are unchanged: ${messageOf(error)}`).catch(() => {})
      await log.close().catch(() => {})
    }
    // Nothing changed: leave the stack running as it was.
    if (stoppedStack && driver && !swapped) await driver.up().catch(() => {})
    throw error
  }
}

/** Whether `docker compose` could be asked if the stack runs (a machine without Docker restores files only). */
async function composeAvailable(dir: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    await ComposeDriver.open(dir, env)
    return true
  } catch {
    return false
  }
}

/** IOTstack's member order first, then anything else the archive holds. */
function orderMembers(names: string[]): string[] {
  const known = STACK_MEMBERS.filter((m) => names.includes(m))
  return [...known, ...names.filter((n) => !(STACK_MEMBERS as readonly string[]).includes(n)).sort()]
}
