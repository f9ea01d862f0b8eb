import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {BkError} from '../errors.js'
import type {Job} from './config.js'
import type {BkInvocation} from './runner.js'

/** A file `bk schedule install` writes. */
export interface ScheduleFile {
  path: string
  text: string
}

/** What runs scheduled jobs: systemd timers or cron. */
export type Scheduler = 'systemd' | 'cron'

/** systemd when it runs this machine (PID 1), else cron. */
export function detectScheduler(): Scheduler {
  return existsSync('/run/systemd/system') ? 'systemd' : 'cron'
}

/** /etc/systemd/system for root, ~/.config/systemd/user otherwise. */
export function defaultUnitDir(): string {
  return process.getuid?.() === 0 ? '/etc/systemd/system' : join(homedir(), '.config', 'systemd', 'user')
}

/** Where cron lines go where there is no systemd. */
export const DEFAULT_CRON_FILE = '/etc/cron.d/bk'

/** systemd's quoting for an ExecStart word. */
function systemdWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

function runArgv(job: Job, bk: BkInvocation): string[] {
  return [bk.node, bk.script, 'run', job.name, '--quiet', ...(bk.config ? ['--config', bk.config] : [])]
}

/** The systemd unit name of a job (`bk-<job>`), escaped as systemd needs. */
export function unitName(job: Job): string {
  return `bk-${job.name}`
}

/** The service and timer of a job: `bk run <job>` once, at the job's OnCalendar, catching up missed runs. */
export function systemdUnits(job: Job, bk: BkInvocation, unitDir: string): ScheduleFile[] {
  const name = unitName(job)
  const service = `[Unit]
Description=bk job ${job.name} (bk ${job.argv[0] ?? ''} ${job.argv[1] ?? ''})
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
${Object.entries(bk.env ?? {})
  .map(([k, v]) => `Environment=${systemdWord(`${k}=${v}`)}\n`)
  .join('')}ExecStart=${runArgv(job, bk).map(systemdWord).join(' ')}
Nice=10
IOSchedulingClass=idle
`
  const timer = `[Unit]
Description=Schedule of bk job ${job.name}

[Timer]
OnCalendar=${job.schedule}
Persistent=true
RandomizedDelaySec=300

[Install]
WantedBy=timers.target
`
  return [
    {path: join(unitDir, `${name}.service`), text: service},
    {path: join(unitDir, `${name}.timer`), text: timer},
  ]
}

const CRON_FIELDS: Record<string, string> = {
  hourly: '17 * * * *',
  daily: '17 3 * * *',
  weekly: '17 4 * * 1',
  monthly: '17 5 1 * *',
}

/** One cron line per job (a /etc/cron.d file has a user field). */
export function cronLines(jobs: Job[], bk: BkInvocation, user = 'root'): string {
  const lines = jobs.map((job) => {
    const fields = job.cron ?? CRON_FIELDS[job.schedule]
    if (!fields) {
      throw new BkError(
        `job '${job.name}': cron cannot run the OnCalendar schedule '${job.schedule}'; add cron: '<min> <hour> <dom> <mon> <dow>' to the job`,
        {code: 'ECONFIG'},
      )
    }
    const env = Object.entries(bk.env ?? {}).map(([k, v]) => `${k}=${shellWord(v)} `)
    return `${fields} ${user} ${env.join('')}${runArgv(job, bk).map(shellWord).join(' ')}`
  })
  return `# Written by bk schedule install; bk schedule remove removes it.\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n${lines.join('\n')}\n`
}
