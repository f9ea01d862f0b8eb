/**
 * `bk schedule install|list|remove`: which files the jobs' schedules are, and writing or removing them. The
 * unit and cron texts come from core (jobs/schedule.ts); this module decides where they go and what to run.
 */
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, rm, writeFile} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {
  type BkInvocation,
  cronLines,
  DEFAULT_CRON_FILE,
  defaultUnitDir,
  detectScheduler,
  type Job,
  type Scheduler,
  systemdUnits,
  unitName,
} from '@bkcli/core/jobs'
import {Flags} from '@bkcli/core/oclif'
import {runTool} from '@bkcli/core/process'
import {atomicFile} from '@bkcli/core/safety'
import {type Plan, step} from '@bkcli/core/workflow'

export const scheduleFlags = {
  scheduler: Flags.option({
    options: ['systemd', 'cron'] as const,
    description: 'systemd timers or a cron file (default: systemd when it runs this machine, else cron).',
  })(),
  'unit-dir': Flags.string({
    description: 'Where unit files go (default /etc/systemd/system, ~/.config/systemd/user for a user).',
  }),
  'cron-file': Flags.string({description: `The cron file (default ${DEFAULT_CRON_FILE}).`}),
  enable: Flags.boolean({
    default: true,
    allowNo: true,
    description:
      'Run systemctl daemon-reload and enable/disable the timers (--no-enable: only write/remove the files).',
  }),
}

export interface ScheduleTarget {
  scheduler: Scheduler
  unitDir: string
  cronFile: string
  /** Run systemctl (systemd, --enable, and systemd running). */
  systemctl: boolean
  user: boolean
}

export function scheduleTarget(flags: {
  scheduler?: string
  'unit-dir'?: string
  'cron-file'?: string
  enable?: boolean
}): ScheduleTarget {
  const scheduler = (flags.scheduler as Scheduler | undefined) ?? detectScheduler()
  const user = process.getuid?.() !== 0
  return {
    scheduler,
    unitDir: resolve(flags['unit-dir'] ?? defaultUnitDir()),
    cronFile: resolve(flags['cron-file'] ?? DEFAULT_CRON_FILE),
    systemctl: scheduler === 'systemd' && flags.enable !== false && existsSync('/run/systemd/system'),
    user,
  }
}

function systemctlArgs(target: ScheduleTarget, ...args: string[]): string[] {
  return target.user ? ['--user', ...args] : args
}

/** Jobs whose line is in the cron file now. */
function cronJobsInstalled(file: string): Set<string> {
  if (!existsSync(file)) return new Set()
  return new Set([...readFileSync(file, 'utf8').matchAll(/ run (\S+) --quiet/g)].map((m) => m[1] as string))
}

/** What install or remove would write, remove and run; unit and cron texts in full (shown by --dry-run). */
export function schedulePlan(
  action: 'install' | 'remove',
  target: ScheduleTarget,
  jobs: Job[],
  all: Job[],
  bk: BkInvocation,
): Plan {
  const plan: Plan = {
    summary: `${action} the schedule of ${jobs.map((j) => j.name).join(', ')} (${target.scheduler})`,
    steps: [],
    files: [],
  }
  const files = plan.files as {path: string; text: string}[]
  if (target.scheduler === 'cron') {
    const installed = cronJobsInstalled(target.cronFile)
    const names = new Set(jobs.map((j) => j.name))
    const keep = all.filter((j) =>
      action === 'install' ? names.has(j.name) || installed.has(j.name) : installed.has(j.name) && !names.has(j.name),
    )
    if (keep.length === 0) {
      if (existsSync(target.cronFile)) plan.steps.push(step('remove', target.cronFile))
    } else {
      const text = cronLines(keep, bk, target.user ? (process.env.USER ?? 'root') : 'root')
      plan.steps.push(step('write', target.cronFile, `${keep.length} job(s)`))
      files.push({path: target.cronFile, text})
    }
    return plan
  }
  for (const job of jobs) {
    const units = systemdUnits(job, bk, target.unitDir)
    if (action === 'install') {
      for (const f of units) {
        plan.steps.push(step('write', f.path))
        files.push(f)
      }
      if (target.systemctl)
        plan.steps.push(
          step('run', `systemctl ${systemctlArgs(target, 'enable', '--now', `${unitName(job)}.timer`).join(' ')}`),
        )
    } else {
      if (target.systemctl)
        plan.steps.push(
          step('run', `systemctl ${systemctlArgs(target, 'disable', '--now', `${unitName(job)}.timer`).join(' ')}`),
        )
      for (const f of units) if (existsSync(f.path)) plan.steps.push(step('remove', f.path))
    }
  }
  if (target.systemctl) plan.steps.push(step('run', `systemctl ${systemctlArgs(target, 'daemon-reload').join(' ')}`))
  return plan
}

export interface ScheduleResult {
  written: string[]
  removed: string[]
  ran: string[]
}

async function systemctl(target: ScheduleTarget, args: string[], ran: string[]): Promise<void> {
  await runTool('systemctl', systemctlArgs(target, ...args))
  ran.push(`systemctl ${systemctlArgs(target, ...args).join(' ')}`)
}

/** Writes what the plan says (each file atomically), then reloads systemd and enables the timers. */
export async function installSchedule(target: ScheduleTarget, jobs: Job[], plan: Plan): Promise<ScheduleResult> {
  const result: ScheduleResult = {written: [], removed: [], ran: []}
  for (const file of plan.files ?? []) {
    await mkdir(dirname(file.path), {recursive: true})
    await atomicFile(file.path, (tmp) => writeFile(tmp, file.text), {overwrite: true, mode: 0o644})
    result.written.push(file.path)
  }
  if (target.scheduler === 'systemd' && target.systemctl) {
    await systemctl(target, ['daemon-reload'], result.ran)
    for (const job of jobs) await systemctl(target, ['enable', '--now', `${unitName(job)}.timer`], result.ran)
  }
  return result
}

/** Disables the timers, removes their units (or rewrites the cron file without the jobs). */
export async function removeSchedule(target: ScheduleTarget, jobs: Job[], plan: Plan): Promise<ScheduleResult> {
  const result: ScheduleResult = {written: [], removed: [], ran: []}
  if (target.scheduler === 'systemd') {
    if (target.systemctl) {
      for (const job of jobs) {
        if (existsSync(join(target.unitDir, `${unitName(job)}.timer`))) {
          await systemctl(target, ['disable', '--now', `${unitName(job)}.timer`], result.ran)
        }
      }
    }
    for (const s of plan.steps.filter((s) => s.op === 'remove')) {
      await rm(s.target, {force: true})
      result.removed.push(s.target)
    }
    if (target.systemctl) await systemctl(target, ['daemon-reload'], result.ran)
    return result
  }
  for (const file of plan.files ?? []) {
    await atomicFile(file.path, (tmp) => writeFile(tmp, file.text), {overwrite: true, mode: 0o644})
    result.written.push(file.path)
  }
  for (const s of plan.steps.filter((s) => s.op === 'remove')) {
    await rm(s.target, {force: true})
    result.removed.push(s.target)
  }
  return result
}
