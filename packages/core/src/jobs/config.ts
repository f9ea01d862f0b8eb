import {BkError} from '../errors.js'
import {splitCommandLine} from './argv.js'

/** Where a job's or the run's outcome is announced. */
export interface AlertTargets {
  /** healthchecks.io-style base URL: `<url>/start`, `<url>` on success, `<url>/fail` with the error. */
  ping?: string
  /** ntfy topic URL, posted to on failure. */
  ntfy?: string
  /** Address mailed through the local sendmail on failure. */
  mail?: string
}

/** A job from bk.yml: its name, the bk command line it runs, its schedule and alerts. */
export interface Job extends AlertTargets {
  name: string
  /** The bk command line as typed after `bk`. */
  run: string
  argv: string[]
  schedule: string
  /** Stale when the last good run is older than this (ms); default twice the schedule's period. */
  staleAfterMs: number
  /** Run `bk <app> verify` on each artifact the job made. */
  verify: boolean
  /** A cron line's time fields, where there is no systemd (keywords map by themselves). */
  cron?: string
}

/** bk.yml's `jobs:` and global `alerts:`. */
export interface JobsConfig {
  jobs: Job[]
  alerts: AlertTargets
}

const HOUR = 3_600_000
const PERIOD: Record<string, number> = {hourly: HOUR, daily: 24 * HOUR, weekly: 7 * 24 * HOUR, monthly: 31 * 24 * HOUR}
const JOB_KEYS = new Set(['name', 'run', 'schedule', 'ping', 'ntfy', 'mail', 'stale-after', 'verify', 'cron'])
const ALERT_KEYS = new Set(['ping', 'ntfy', 'mail'])

/** `36h`, `2d`, `90m`, `1w` → ms. */
export function parseDuration(text: string, where: string): number {
  const match = /^(\d+)\s*([mhdw])$/.exec(text.trim())
  if (!match)
    throw new BkError(`${where}: expected a duration like 36h, 2d, 90m or 1w, got '${text}'`, {code: 'ECONFIG'})
  const unit = {m: 60_000, h: HOUR, d: 24 * HOUR, w: 7 * 24 * HOUR}[match[2] as 'm' | 'h' | 'd' | 'w']
  return Number(match[1]) * unit
}

/** The period of a schedule keyword; a systemd OnCalendar expression counts as daily unless stale-after says. */
export function schedulePeriod(schedule: string): number {
  return PERIOD[schedule] ?? 24 * HOUR
}

function text(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.trim() === '') {
    throw new BkError(`${where} must be a non-empty string`, {code: 'ECONFIG'})
  }
  return value
}

function alerts(raw: Record<string, unknown>, where: string): AlertTargets {
  return {
    ping: text(raw.ping, `${where}.ping`),
    ntfy: text(raw.ntfy, `${where}.ntfy`),
    mail: text(raw.mail, `${where}.mail`),
  }
}

/** Reads and checks `jobs:` and `alerts:` of bk.yml; errors name the file, the job and the key. */
export function parseJobs(file: string, rawJobs: unknown, rawAlerts: unknown): JobsConfig {
  if (rawJobs !== undefined && !Array.isArray(rawJobs)) {
    throw new BkError(`${file}: jobs must be a list of jobs (- name: …, run: …, schedule: …)`, {code: 'ECONFIG'})
  }
  const jobs: Job[] = []
  const names = new Set<string>()
  for (const [i, raw] of ((rawJobs as unknown[]) ?? []).entries()) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new BkError(`${file}: jobs[${i}] must map keys to values`, {code: 'ECONFIG'})
    }
    const record = raw as Record<string, unknown>
    const name = text(record.name, `${file}: jobs[${i}].name`) as string
    if (!name || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      throw new BkError(
        `${file}: jobs[${i}].name must be letters, digits, '.', '_' or '-' (it names files and units)`,
        {
          code: 'ECONFIG',
        },
      )
    }
    const where = `${file}: job '${name}'`
    if (names.has(name)) throw new BkError(`${where} is defined twice`, {code: 'ECONFIG'})
    names.add(name)
    for (const key of Object.keys(record)) {
      if (!JOB_KEYS.has(key)) {
        throw new BkError(`${where}: unknown key '${key}' (known: ${[...JOB_KEYS].join(', ')})`, {code: 'ECONFIG'})
      }
    }
    const run = text(record.run, `${where}.run`)
    if (!run) throw new BkError(`${where} has no run: (the bk command line, as typed after bk)`, {code: 'ECONFIG'})
    const argv = splitCommandLine(run)
    if (argv[0] === 'bk') argv.shift()
    if (argv[0] === 'run') throw new BkError(`${where}: a job cannot run 'bk run'`, {code: 'ECONFIG'})
    const schedule = text(record.schedule, `${where}.schedule`) ?? 'daily'
    const staleText = text(record['stale-after'], `${where}.stale-after`)
    if (record.verify !== undefined && typeof record.verify !== 'boolean') {
      throw new BkError(`${where}.verify must be true or false`, {code: 'ECONFIG'})
    }
    jobs.push({
      name,
      run,
      argv,
      schedule,
      staleAfterMs: staleText ? parseDuration(staleText, `${where}.stale-after`) : 2 * schedulePeriod(schedule),
      verify: record.verify === true,
      cron: text(record.cron, `${where}.cron`),
      ...alerts(record, where),
    })
  }
  let globalAlerts: AlertTargets = {}
  if (rawAlerts !== undefined && rawAlerts !== null) {
    if (typeof rawAlerts !== 'object' || Array.isArray(rawAlerts)) {
      throw new BkError(`${file}: alerts must map ping/ntfy/mail to values`, {code: 'ECONFIG'})
    }
    for (const key of Object.keys(rawAlerts)) {
      if (!ALERT_KEYS.has(key))
        throw new BkError(`${file}: unknown key 'alerts.${key}' (known: ping, ntfy, mail)`, {code: 'ECONFIG'})
    }
    globalAlerts = alerts(rawAlerts as Record<string, unknown>, `${file}: alerts`)
  }
  return {jobs, alerts: globalAlerts}
}

/** The jobs named (all when none), in bk.yml's order; an unknown name is an error listing the known ones. */
export function selectJobs(config: JobsConfig, names: string[]): Job[] {
  if (names.length === 0) return config.jobs
  return names.map((n) => {
    const job = config.jobs.find((j) => j.name === n)
    if (!job) {
      const known = config.jobs.map((j) => j.name).join(', ') || 'none'
      throw new BkError(`no job named '${n}' in bk.yml (jobs: ${known})`, {code: 'EUSAGE', exit: 2})
    }
    return job
  })
}
