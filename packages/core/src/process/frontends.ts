/**
 * Frontends (web servers, mail gateways) stopped around an operation and brought back afterwards, also when the
 * operation fails: processes named by a pidfile or found by a scan of /proc (SIGTERM; started again with the
 * command line, folder and environment they had), systemd units (`systemctl stop` / `start`), or a user's pair
 * of shell commands. Stopped in the order given, started again in reverse order.
 */
import {spawn} from 'node:child_process'
import {readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {Flags} from '@bkcli/core/oclif'
import {BkError, messageOf} from '../errors.js'
import {pidAlive} from '../safety/pid.js'
import {type PlanStep, step} from '../workflow/plan.js'
import {runHook} from './hooks.js'
import {runTool} from './tool.js'

/** One frontend to stop and start again. */
export type Frontend =
  /** the process whose pid a pidfile holds; `match` checks its command line (refused otherwise) */
  | {kind: 'pidfile'; pidfile: string; name: string; match?: RegExp}
  /** a running process found by {@link findProcesses}; `childOf`: stopped only, its parent (stopped before it) starts it again */
  | {kind: 'process'; pid: number; name: string; childOf?: number}
  /** a systemd unit */
  | {kind: 'unit'; unit: string}
  /** shell commands that stop and start it */
  | {kind: 'command'; stop: string; start: string}

/** A process as /proc shows it. */
export interface ProcessInfo {
  pid: number
  argv: string[]
  /** its working folder ('' when unreadable) */
  cwd: string
  /** its parent's pid (0 when unreadable) */
  ppid?: number
}

/** What happened to one frontend: stopped, started again, or why not. */
export interface FrontendReport {
  /** e.g. `roundup-server pid 123`, `unit tracd.service`, `command 'sv stop web'` */
  name: string
  stopped: boolean
  restarted: boolean
  /** why it could not be started again (start it by hand) */
  error?: string
}

function readProc(pid: number, what: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'utf8')
  } catch {
    return undefined
  }
}

/** A process's argv, folder and environment as /proc shows them (undefined when it is gone or unreadable). */
function snapshot(pid: number): (ProcessInfo & {env: Record<string, string>}) | undefined {
  const cmdline = readProc(pid, 'cmdline')
  if (!cmdline) return undefined
  const argv = cmdline.split('\0')
  if (argv[argv.length - 1] === '') argv.pop()
  let cwd = ''
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`)
  } catch {}
  const env: Record<string, string> = {}
  for (const kv of (readProc(pid, 'environ') ?? '').split('\0')) {
    const i = kv.indexOf('=')
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return {pid, argv, cwd, env}
}

/** Every process of this host for which `test` holds (a scan of /proc; other users' processes included when readable). */
export function findProcesses(test: (p: ProcessInfo) => boolean): ProcessInfo[] {
  const out: ProcessInfo[] = []
  let names: string[] = []
  try {
    names = readdirSync('/proc')
  } catch {
    return out
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    const cmdline = readProc(pid, 'cmdline')
    if (!cmdline) continue
    const argv = cmdline.split('\0').filter((a, i, all) => !(a === '' && i === all.length - 1))
    let cwd = ''
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`)
    } catch {}
    const stat = readProc(pid, 'stat') ?? ''
    const ppid = Number(/\) \S+ (\d+)/.exec(stat)?.[1] ?? 0)
    const info = {pid, argv, cwd, ppid}
    if (test(info)) out.push(info)
  }
  return out.sort((a, b) => a.pid - b.pid)
}

/** The systemd service a process runs in (`/proc/<pid>/cgroup` under system.slice), if any. */
export function serviceUnitOf(pid: number): string | undefined {
  const cgroup = readProc(pid, 'cgroup') ?? ''
  for (const line of cgroup.split('\n')) {
    const m = /\/system\.slice\/(?:.*\/)?([^/]+\.service)(?:\/.*)?$/.exec(line)
    if (m) return m[1]
  }
  return undefined
}

/** The pid a pidfile names, checked: running, and its command line matching (reads only). */
export function pidFromFile(pidfile: string, name: string, match?: RegExp): number {
  let text: string
  try {
    text = readFileSync(pidfile, 'utf8').trim()
  } catch {
    throw new BkError(`cannot read the pidfile ${pidfile}; give the pidfile ${name} writes`)
  }
  const pid = Number(text.split(/\s+/)[0])
  if (!Number.isInteger(pid) || pid <= 1) throw new BkError(`${pidfile} does not hold a process id`)
  if (!pidAlive(pid)) {
    throw new BkError(
      `stale pidfile ${pidfile}: pid ${pid} is not running (is ${name} stopped already? remove the pidfile)`,
    )
  }
  const cmd = (readProc(pid, 'cmdline') ?? '').replaceAll('\0', ' ').trim()
  if (match && cmd && !match.test(cmd)) {
    throw new BkError(`pid ${pid} from ${pidfile} is not ${name} (${cmd.slice(0, 60)}); not stopping it`)
  }
  return pid
}

/** How a frontend is named in plans, messages and reports. */
export function frontendName(f: Frontend): string {
  switch (f.kind) {
    case 'pidfile':
      return `${f.name} (${f.pidfile})`
    case 'process':
      return `${f.name} pid ${f.pid}`
    case 'unit':
      return `unit ${f.unit}`
    case 'command':
      return `command '${f.stop}'`
  }
}

/** The plan steps of stopping and starting the frontends; checks pidfiles as the real run does (reads only). */
export function frontendSteps(frontends: Frontend[]): {stop: PlanStep[]; start: PlanStep[]} {
  const stop: PlanStep[] = []
  const start: PlanStep[] = []
  for (const f of frontends) {
    if (f.kind === 'pidfile') {
      const pid = pidFromFile(f.pidfile, f.name, f.match)
      stop.push(step('stop', `${f.name} pid ${pid}`, `SIGTERM (pidfile ${f.pidfile})`))
      start.push(step('start', `${f.name}`, 'its command line again, also if the operation fails'))
    } else if (f.kind === 'process') {
      stop.push(
        step('stop', `${f.name} pid ${f.pid}`, f.childOf === undefined ? 'SIGTERM' : `SIGTERM (child of ${f.childOf})`),
      )
      if (f.childOf === undefined)
        start.push(step('start', f.name, 'its command line again, also if the operation fails'))
    } else if (f.kind === 'unit') {
      stop.push(step('stop', `unit ${f.unit}`, 'systemctl stop'))
      start.push(step('start', `unit ${f.unit}`, 'systemctl start, also if the operation fails'))
    } else {
      stop.push(step('stop', f.stop, 'shell command'))
      start.push(step('start', f.start, 'shell command, also if the operation fails'))
    }
  }
  return {stop, start: start.reverse()}
}

interface Stopped {
  frontend: Frontend
  report: FrontendReport
  start: () => Promise<void>
}

async function terminate(pid: number, name: string, timeoutMs: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM')
  } catch (error) {
    throw new BkError(`cannot stop ${name} (pid ${pid}): ${messageOf(error)}`)
  }
  const until = Date.now() + timeoutMs
  while (pidAlive(pid) && Date.now() < until) await sleep(100)
  if (pidAlive(pid)) throw new BkError(`${name} (pid ${pid}) did not stop within ${timeoutMs / 1000}s after SIGTERM`)
}

/** Start a process again as it was: same argv, folder and environment, detached from bk. */
function respawn(p: ProcessInfo & {env: Record<string, string>}): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const [file, ...args] = p.argv
    if (!file) return reject(new Error('no command line'))
    const child = spawn(file, args, {cwd: p.cwd || '/', env: p.env, detached: true, stdio: 'ignore'})
    child.once('error', reject)
    child.once('spawn', () => {
      child.unref()
      resolvePromise()
    })
  })
}

async function stopOne(f: Frontend, timeoutMs: number): Promise<Stopped> {
  const name = frontendName(f)
  if (f.kind === 'pidfile' || f.kind === 'process') {
    const pid = f.kind === 'pidfile' ? pidFromFile(f.pidfile, f.name, f.match) : f.pid
    const snap = snapshot(pid)
    if (f.kind === 'process' && f.childOf !== undefined) {
      // a server's worker child: stopped (it may outlive its parent), started again by the parent
      if (snap && pidAlive(pid)) await terminate(pid, f.name, timeoutMs)
      return {
        frontend: f,
        report: {name: `${f.name} pid ${pid} (child of ${f.childOf})`, stopped: true, restarted: false},
        start: async () => {},
      }
    }
    if (!snap) throw new BkError(`${f.name} (pid ${pid}) is gone or unreadable; nothing to stop`)
    await terminate(pid, f.name, timeoutMs)
    return {
      frontend: f,
      report: {name: `${f.name} pid ${pid}`, stopped: true, restarted: false},
      start: () => respawn(snap),
    }
  }
  if (f.kind === 'unit') {
    await runTool('systemctl', ['stop', f.unit])
    return {
      frontend: f,
      report: {name, stopped: true, restarted: false},
      start: async () => {
        await runTool('systemctl', ['start', f.unit])
      },
    }
  }
  await runHook(f.stop, {label: 'stop command', quiet: true})
  return {
    frontend: f,
    report: {name, stopped: true, restarted: false},
    start: () => runHook(f.start, {label: 'start command', quiet: true}),
  }
}

async function startAll(stopped: Stopped[]): Promise<void> {
  for (const s of [...stopped].reverse()) {
    try {
      await s.start()
      s.report.restarted = true
    } catch (error) {
      s.report.error = messageOf(error)
    }
  }
}

/**
 * Stop the frontends (in order), run `fn`, then start them again (in reverse order) whatever `fn` did. When a
 * stop fails, those already stopped are started again and the error is thrown (fn does not run). A frontend
 * that does not start again does not fail the operation: its report carries the error (tell the user).
 */
export async function withFrontendsStopped<T>(
  frontends: Frontend[],
  fn: () => Promise<T>,
  options: {timeoutMs?: number} = {},
): Promise<{value: T; frontends: FrontendReport[]}> {
  const stopped: Stopped[] = []
  try {
    for (const f of frontends) stopped.push(await stopOne(f, options.timeoutMs ?? 15000))
  } catch (error) {
    await startAll(stopped)
    throw error
  }
  try {
    const value = await fn()
    await startAll(stopped)
    return {value, frontends: stopped.map((s) => s.report)}
  } catch (error) {
    await startAll(stopped)
    const failed = stopped.filter((s) => !s.report.restarted)
    if (failed.length > 0 && error instanceof Error) {
      error.message += `; not started again: ${failed.map((s) => `${s.report.name} (${s.report.error})`).join(', ')}`
    }
    throw error
  }
}

/** Lines for the user: what was stopped and started again, and what must be started by hand. */
export function frontendLines(reports: FrontendReport[]): {info: string[]; warnings: string[]} {
  const info: string[] = []
  const warnings: string[] = []
  for (const r of reports) {
    if (r.restarted) info.push(`Stopped ${r.name} and started it again.`)
    else warnings.push(`${r.name} was stopped but did not start again (${r.error}); start it by hand`)
  }
  return {info, warnings}
}

/**
 * `--stop-server`, `--stop-unit`, `--stop-command`/`--start-command`: frontends to stop around the operation and
 * start again afterwards. `server` names the application's own server (roundup-server, tracd).
 */
export function frontendFlags(server: string) {
  return {
    'stop-server': Flags.string({
      description: `pidfile of a ${server} to stop (SIGTERM) first and start again afterwards (repeatable)`,
      multiple: true,
      helpGroup: 'FRONTENDS',
    }),
    'stop-unit': Flags.string({
      description: 'systemd unit to stop first and start again afterwards (systemctl; repeatable)',
      multiple: true,
      helpGroup: 'FRONTENDS',
    }),
    'stop-command': Flags.string({
      description:
        'shell command that stops a frontend; needs a matching --start-command (repeatable, paired in order)',
      multiple: true,
      helpGroup: 'FRONTENDS',
    }),
    'start-command': Flags.string({
      description: 'shell command that starts it again afterwards, also when the operation fails',
      multiple: true,
      helpGroup: 'FRONTENDS',
    }),
  }
}

type FlagList = string | string[] | undefined
const list = (v: FlagList): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** The Frontends of parsed {@link frontendFlags}, in the order: servers, units, commands. */
export function frontendsFromFlags(
  flags: {'stop-server'?: FlagList; 'stop-unit'?: FlagList; 'stop-command'?: FlagList; 'start-command'?: FlagList},
  server: {name: string; match?: RegExp},
): Frontend[] {
  const stops = list(flags['stop-command'])
  const starts = list(flags['start-command'])
  if (stops.length !== starts.length) {
    throw new BkError(
      `--stop-command given ${stops.length} times and --start-command ${starts.length} times; give them in pairs`,
      {exit: 2},
    )
  }
  return [
    ...list(flags['stop-server']).map(
      (pidfile): Frontend => ({kind: 'pidfile', pidfile, name: server.name, match: server.match}),
    ),
    ...list(flags['stop-unit']).map((unit): Frontend => ({kind: 'unit', unit})),
    ...stops.map((stop, i): Frontend => ({kind: 'command', stop, start: starts[i] as string})),
  ]
}
