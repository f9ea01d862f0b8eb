import {existsSync, rmSync} from 'node:fs'
import {lstat, mkdir, readdir, rm, rmdir} from 'node:fs/promises'
import {basename, isAbsolute, join, relative, resolve} from 'node:path'
import {checkArchive, extractArchive} from '@bkcli/core/archive'
import {Catalog} from '@bkcli/core/catalog'
import {BkError, isBkError, messageOf} from '@bkcli/core/errors'
import {crashPoint, onInterrupt} from '@bkcli/core/safety'
import {commitParts, type Plan, type PlanStep, step} from '@bkcli/core/workflow'
import {archiveStackMembers} from './archive-members.js'
import {loadComposeProject} from './compose-file.js'
import {type LoadResult, loadDatabaseDumps, presentDumps} from './database-dumps.js'
import {findDatabaseServices} from './database-services.js'
import {ComposeDriver} from './docker-compose.js'
import {runStackHook} from './hook-scripts.js'
import {DATED_NAMING} from './naming.js'
import {KEPT_DIR, restoreJournal} from './recover.js'
import {type IotstackManifest, readSidecar} from './sidecar.js'
import {NEVER_IN_IOTSTACK_ARCHIVES, presentMembers, STACK_MEMBERS, type StackPaths, stackPaths} from './stack.js'
import {logTime, StackLog} from './stack-log.js'

/**
 * `bk iotstack restore`: what IOTstack's restore.sh should do. `plan()` reads the whole archive through (and its
 * manifest) and says what would change, touching nothing. `run()` (under core's locks, after its recovery)
 * extracts beside the stack, brings a running stack down (files open in running containers must not be replaced
 * under them), takes a safety archive of the current members, and swaps every member — volumes, compose files,
 * .env, … — through core's commit journal: a run killed or interrupted at any instant leaves the old stack or,
 * once the next bk run has finished the commit, the new one; never new volumes with the old .env. The replaced
 * members are kept under `.bk-kept/<time>-<pid>/`. Then `post_restore.sh` runs, optionally dumps are loaded back
 * and the stack started. `backups/` (and its logs) is never touched.
 */
export interface RestoreOptions {
  location?: string
  /** Bring the stack up afterwards (`docker compose up -d`). */
  start?: boolean
  /** Load the dumps taken by `backup --dump-databases` back into their services. */
  restoreDatabases?: boolean
  env?: NodeJS.ProcessEnv
  now?: Date
  onStep?: (text: string) => void
  /** Readiness wait for --restore-databases. */
  readyTimeoutMs?: number
  readyIntervalMs?: number
  /**
   * plan() reads and checks the whole archive (default). false: plan() reads only the sidecar manifest and run()
   * makes every check (entries, the archive's sha256 against its manifest, the stack's shape) in its one extracting
   * pass, into the folder beside the stack: a refused archive still changes nothing, and is read once instead of
   * twice. For runs that ask nothing and run no hook between the plan and the act (--yes, noask).
   */
  checkFirst?: boolean
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
  source: string
  target: string
  restored: string[]
  /** What of the previous state is kept: the replaced members' folder and the safety archive. */
  kept: string[]
  /** Current members left as they are because the archive lacks them and IOTstack never archived them (.env …). */
  keptMembers: string[]
  /** Current members moved out because the archive lacks them (kept with the replaced ones). */
  removed: string[]
  safetyArchive?: string
  /** Folder holding the replaced members. */
  previous?: string
  stoppedStack: boolean
  started: boolean
  postRestoreHook: boolean
  databases: LoadResult[]
  log: string
  warnings: string[]
}

interface Checked {
  sidecar?: IotstackManifest
  entries: number
  members: string[]
  /** False: nothing of the archive was read yet; run() checks everything on its way into the extract folder. */
  read: boolean
}

export class StackRestore {
  private checked?: Checked
  private constructor(
    readonly archive: string,
    readonly paths: StackPaths,
    private readonly options: RestoreOptions,
  ) {}

  static async open(archiveArg: string, stackDir: string, options: RestoreOptions = {}): Promise<StackRestore> {
    const paths = stackPaths(stackDir, options.location)
    const st = await lstat(paths.dir).catch(() => undefined)
    if (st && !st.isDirectory())
      throw new BkError(`${paths.dir} is not a folder; pass the IOTstack folder to restore into`)
    return new StackRestore(await findArchive(archiveArg, paths), paths, options)
  }

  /** Reads only: the whole archive (not with checkFirst: false), its manifest and the stack's members. */
  async plan(): Promise<Plan> {
    const {archive, paths} = this
    const sidecar = await readSidecar(archive)
    // checkFirst: false leaves every check of the archive to run()'s one extracting pass (see RestoreOptions)
    const read = this.options.checkFirst !== false
    const whole = read ? await readWhole(archive, sidecar) : undefined
    const members = whole?.members ?? sidecar?.extra.members ?? []
    const entries = whole?.entries ?? 0
    this.checked = {sidecar, entries, members, read}
    const current = await presentMembers(paths.dir).catch(() => [] as string[])
    const {remove, keep} = split(current, members)
    const now = this.options.now ?? new Date()
    const steps: PlanStep[] = [
      step(
        'check',
        archive,
        read
          ? `${sidecar ? 'bk archive, manifest matches' : 'IOTstack archive'}, ${entries} entries`
          : `${sidecar ? 'bk archive' : 'IOTstack archive'}: every entry and the manifest's sha256 checked while it is extracted beside the stack, before anything changes`,
      ),
    ]
    if (current.includes('docker-compose.yml')) steps.push(step('stop', paths.dir, 'docker compose down, if it runs'))
    if (current.length > 0) {
      const name = await new Catalog(paths.preRestore, DATED_NAMING, {manifests: false}).nextName(now)
      steps.push(step('create', join(paths.preRestore, name), `safety archive of ${current.join(', ')}`))
    }
    for (const m of members) steps.push(step(current.includes(m) ? 'replace' : 'create', join(paths.dir, m)))
    for (const m of remove) steps.push(step('remove', join(paths.dir, m), 'not in the archive'))
    const replaced = [...members.filter((m) => current.includes(m)), ...remove]
    if (replaced.length > 0)
      steps.push(step('keep', join(paths.dir, KEPT_DIR, '<time>-<pid>'), `the replaced ${replaced.join(', ')}`))
    for (const m of keep) steps.push(step('keep', join(paths.dir, m), 'not in the archive: left as it is'))
    if (members.includes('post_restore.sh') || keep.includes('post_restore.sh'))
      steps.push(step('run', join(paths.dir, 'post_restore.sh')))
    if (this.options.restoreDatabases) steps.push(step('load', paths.dir, 'the dumps of --dump-databases'))
    if (this.options.start) steps.push(step('start', paths.dir, 'docker compose up -d'))
    const warnings =
      members.includes('.env') || (!read && !sidecar)
        ? []
        : [
            `the archive holds no .env (IOTstack backups never do)${current.includes('.env') ? ': the current .env is kept' : ''}`,
          ]
    return {summary: `restore ${archive} into ${paths.dir}`, steps, warnings}
  }

  /** The restore itself (core holds the locks and has recovered leftovers). */
  async run(): Promise<RestoreResult> {
    if (!this.checked) await this.plan()
    return runRestore(this.archive, this.paths, this.checked!, this.options)
  }
}

/**
 * One read of the whole archive: entry checks, the file's sha256 against its manifest and the top-level members
 * together. Throws the one-line refusal of a real run.
 */
async function readWhole(
  archive: string,
  sidecar: IotstackManifest | undefined,
): Promise<{entries: number; members: string[]}> {
  const top = new Set<string>()
  const check = await checkArchive(archive, {
    outsideSymlinks: true,
    onEntry: (entry) => {
      const first = entry.path.replace(/^\.\//, '').split('/')[0]
      if (first && first !== '.' && first !== 'backups' && !first.startsWith('.bk-')) top.add(first)
    },
  })
  if (check.unsafe.length > 0) throw unsafeArchive(archive, check.unsafe[0]!)
  if (sidecar && check.sha256 !== sidecar.extra.archive.sha256) throw manifestMismatch(archive)
  const members = orderMembers([...top])
  assertStackShape(archive, members)
  return {entries: check.entries, members}
}

function unsafeArchive(archive: string, unsafe: string): BkError {
  return new BkError(`${archive} holds entries bk will not extract (${unsafe}); nothing was changed`)
}

function manifestMismatch(archive: string): BkError {
  return new BkError(
    `${archive} does not match its manifest (sha256 differs): it changed since bk wrote it; nothing was changed`,
  )
}

/**
 * The extracting pass: the archive's sha256 against its manifest is checked on the very bytes extracted (also after a
 * check-first plan). For a restore that checked nothing first, every entry is checked on its way into the extract
 * folder too (the checks of checkArchive, with the same options); a refusal removes the folder and is worded as the
 * plan's.
 */
async function extractChecked(archive: string, extract: string, checked: Checked): Promise<number> {
  // also after a check-first plan: the archive may have changed while the question waited, or under a hook
  const expected = checked.sidecar?.extra.archive.sha256
  // extractArchive checks no sha256 it is given empty: a manifest without a real one is the plan's mismatch
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw manifestMismatch(archive)
  try {
    const result = await extractArchive({
      file: archive,
      target: extract,
      precheck: false,
      outsideSymlinks: true,
      ...(expected ? {sha256: expected} : {}),
    })
    return result.entries
  } catch (error) {
    if (expected && isBkError(error) && error.code === 'ECORRUPT' && /its sha256 is/.test(error.message))
      throw manifestMismatch(archive)
    if (checked.read) throw error
    if (isBkError(error) && error.code === 'EUNSAFE' && error.cause instanceof Error)
      throw unsafeArchive(archive, error.cause.message)
    // Extraction stops at its first failure, which can come before the entry a check-first read would have refused
    // (a symlink over a folder that is not empty, then a file through it): the whole read finds the same refusal.
    await readWhole(archive, checked.sidecar)
    throw error
  }
}

function split(current: string[], staged: string[]): {remove: string[]; keep: string[]} {
  const never = NEVER_IN_IOTSTACK_ARCHIVES as readonly string[]
  return {
    remove: current.filter((m) => !staged.includes(m) && !never.includes(m)),
    keep: current.filter((m) => !staged.includes(m) && never.includes(m)),
  }
}

function assertStackShape(archive: string, members: string[]): void {
  if (!members.some((n) => n === 'docker-compose.yml' || n === 'services' || n === 'volumes')) {
    throw new BkError(
      `${archive} is not an IOTstack backup (no docker-compose.yml, services/ or volumes/); nothing was changed`,
    )
  }
}

/** A path, else (like restore.sh) a name under `<stack>/backups/`, also looked up in backup/, rolling/, pre-restore/. */
export async function findArchive(arg: string, paths: StackPaths): Promise<string> {
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
  paths: StackPaths,
  checked: Checked,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const now = options.now ?? new Date()
  const env = options.env ?? process.env
  const say = options.onStep ?? (() => {})
  const warnings: string[] = []
  const stamp = logTime(now).replace(/T(\d\d)-(\d\d)-\d\d$/, '_$1$2')
  const logFile = join(paths.logs, `restore_${stamp}.log`)
  await mkdir(paths.dir, {recursive: true})
  const extract = join(paths.dir, `.${basename(paths.dir)}.bk-extract-${process.pid}`)
  // A signal before the commit leaves the old stack: the extract folder goes (synchronously) with the process.
  const previous = join(paths.dir, KEPT_DIR, `${logTime(now)}-${process.pid}`)
  const unregister = onInterrupt(() => rmSync(extract, {recursive: true, force: true}), {sweep: true})

  say('Extracting beside the stack')
  let log: StackLog | undefined
  let driver: ComposeDriver | undefined
  let stoppedStack = false
  let swapped = false
  try {
    const entries = await extractChecked(archive, extract, checked)
    const staged = orderMembers((await readdir(extract)).filter((n) => n !== 'backups' && !n.startsWith('.bk-')))
    assertStackShape(archive, staged)
    // Durable before the commit points at it (a power cut, not only a kill): extractArchive built `extract` as a
    // stage it flushed to disk (syncTree) before renaming it into place, so a second flush here would find nothing.
    crashPoint('iotstack:restore:extracted')
    const includesEnv = staged.includes('.env')
    const plan: RestorePlan = {
      archive,
      stack: paths.dir,
      entries: checked.read ? checked.entries : entries,
      madeBy: checked.sidecar ? 'bk' : 'iotstack',
      includesEnv,
    }

    log = await StackLog.open(logFile)
    await log.line('### bk iotstack restore log ###')
    await log.line(`Started At: ${logTime(now)}`)
    await log.line(`Current Directory: ${paths.dir}`)
    await log.line(
      `Restore File: ${archive} (${plan.madeBy === 'bk' ? 'bk archive, manifest checked' : 'IOTstack archive'})`,
    )
    await log.line(`Entries checked: ${plan.entries}`)
    const current = await presentMembers(paths.dir)
    if (!includesEnv) {
      const text = current.includes('.env')
        ? 'the archive holds no .env (IOTstack backups never do): the current .env is kept'
        : 'the archive holds no .env (IOTstack backups never do) and the folder has none: services whose passwords come from .env will not start until you recreate it'
      warnings.push(text)
      await log.line(`Note: ${text}`)
    }

    // Files open in running containers must not be replaced under them.
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
        say(`Stopping the stack (${driver.name} down)`)
        await log.line(`${driver.name} down`)
        // set first: a `down` that fails halfway has stopped some containers, which must come back up
        stoppedStack = true
        await driver.down()
      }
    }

    // A safety archive of what is there now.
    let safetyArchive: string | undefined
    if (current.length > 0) {
      say('Taking a safety archive of the current stack')
      const made = await archiveStackMembers(paths, {
        folder: paths.preRestore,
        kind: 'pre-restore',
        now,
        members: current,
      })
      safetyArchive = made.path
      await log.line(`Safety archive: ${relative(paths.dir, made.path)}`)
    }

    // One commit for every member: volumes, compose files, .env … (removals too); the replaced ones are kept.
    const {remove, keep: keptMembers} = split(current, staged)
    await mkdir(previous, {recursive: true, mode: 0o700})
    say('Putting the restored files in place')
    await commitParts(
      [
        ...staged.map((m) => ({stage: join(extract, m), target: join(paths.dir, m)})),
        ...remove.map((m) => ({stage: null, target: join(paths.dir, m)})),
      ],
      {journal: restoreJournal(paths.dir), keepAs: (part) => join(previous, basename(part.target))},
    )
    swapped = true
    await rm(extract, {recursive: true, force: true})
    const keptAny = (await readdir(previous)).length > 0
    if (!keptAny) {
      await rmdir(previous)
      await rmdir(join(paths.dir, KEPT_DIR)).catch(() => {})
    }
    await log.line(`Restored: ${staged.join(', ')}`)
    if (keptAny) await log.line(`Previous files kept in: ${relative(paths.dir, previous)}`)
    if (keptMembers.length > 0) await log.line(`Kept (not in the archive): ${keptMembers.join(', ')}`)
    if (remove.length > 0)
      await log.line(`Removed (not in the archive; kept with the previous files): ${remove.join(', ')}`)

    const result: RestoreResult = {
      ...plan,
      source: archive,
      target: paths.dir,
      restored: staged,
      kept: [...(keptAny ? [previous] : []), ...(safetyArchive ? [safetyArchive] : [])],
      keptMembers,
      removed: remove,
      safetyArchive,
      ...(keptAny ? {previous} : {}),
      stoppedStack,
      started: false,
      postRestoreHook: false,
      databases: [],
      log: logFile,
      warnings,
    }

    // After the files: post_restore.sh, databases, start.
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
        for (const db of dumps) say(`Loading ${db.dumpDir}/${db.dumpFile} into ${db.service}`)
        result.databases = await loadDatabaseDumps(paths.dir, dumps, driver!, {
          timeoutMs: options.readyTimeoutMs,
          intervalMs: options.readyIntervalMs,
        })
        for (const d of result.databases) await log.line(`Loaded ${d.file} into ${d.service}`)
      }
      if (options.start) {
        say(`Starting the stack (${driver!.name} up -d)`)
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
        {cause: failure},
      )
    }
    return result
  } catch (error) {
    // A commit that failed midway is finished by the next run from its journal: its stages must stay.
    if (!swapped && !existsSync(restoreJournal(paths.dir))) {
      await rm(extract, {recursive: true, force: true})
      await rmdir(previous).catch(() => {})
      await rmdir(join(paths.dir, KEPT_DIR)).catch(() => {})
    }
    if (log) {
      await log.line(`Result: FAILED, the stack's files are unchanged: ${messageOf(error)}`).catch(() => {})
      await log.close().catch(() => {})
    }
    // Nothing changed: leave the stack running as it was.
    if (stoppedStack && driver && !swapped) await driver.up().catch(() => {})
    throw error
  } finally {
    unregister()
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
