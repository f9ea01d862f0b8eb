/**
 * Finding the tracd processes that serve an environment, so a restore can stop them before the swap and start
 * them again after it (a running tracd keeps the old environment's cached data and open database otherwise).
 * A tracd serves an environment when its command line names the environment's folder, or its parent folder with
 * `-e`/`--env-parent-dir` (relative paths resolved from the process's folder). One running under a systemd
 * service is stopped and started through that unit instead (its Restart= would fight a SIGTERM).
 */
import {existsSync, realpathSync} from 'node:fs'
import {basename, dirname, resolve} from 'node:path'
import {type Frontend, findProcesses, type ProcessInfo, pidFromFile, serviceUnitOf} from '@bkcli/core/process'

function real(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return resolve(path)
  }
}

/** Whether a command line runs tracd: `tracd …`, `python …/tracd …`, `python -m trac.web.standalone …`. */
export function isTracd(argv: string[]): boolean {
  return argv.slice(0, 3).some((a) => /^tracd(?:\.py|-script\.py)?$/.test(basename(a)) || a === 'trac.web.standalone')
}

/** Whether a tracd command line serves this environment (see the file's comment). */
export function servesEnv(p: Pick<ProcessInfo, 'argv' | 'cwd'>, env: string): boolean {
  const target = real(env)
  const parent = dirname(target)
  const at = (a: string) => real(resolve(p.cwd || '/', a))
  for (let i = 1; i < p.argv.length; i++) {
    const a = p.argv[i] as string
    if ((a === '-e' || a === '--env-parent-dir') && p.argv[i + 1] !== undefined) {
      if (existsSync(target) && at(p.argv[i + 1] as string) === parent) return true
      i++
    } else if (a.startsWith('--env-parent-dir=')) {
      if (existsSync(target) && at(a.slice('--env-parent-dir='.length)) === parent) return true
    } else if (!a.startsWith('-') && at(a) === target) return true
  }
  return false
}

/** The tracd processes serving `env`, as frontends to stop and start again (a systemd service's by its unit). */
export function tracdFrontends(env: string): Frontend[] {
  const out: Frontend[] = []
  const units = new Set<string>()
  const found = findProcesses((x) => isTracd(x.argv) && servesEnv(x, env))
  const pids = new Set(found.map((p) => p.pid))
  // tracd --auto-reload runs the server as a child with the same command line: the parent is stopped, then its
  // child (which may outlive it), and only the parent is started again (it starts its child)
  for (const p of found.filter((x) => !pids.has(x.ppid ?? 0))) {
    const unit = serviceUnitOf(p.pid)
    if (unit) {
      if (!units.has(unit)) out.push({kind: 'unit', unit})
      units.add(unit)
      continue
    }
    out.push({kind: 'process', pid: p.pid, name: 'tracd'})
    for (const c of found.filter((x) => x.ppid === p.pid))
      out.push({kind: 'process', pid: c.pid, name: 'tracd', childOf: p.pid})
  }
  return out
}

/**
 * What a restore of `env` stops: the frontends the user gave, then every tracd found serving the environment that
 * is not one of them (none with `stopTracd` false).
 */
export function restoreFrontends(env: string, given: Frontend[], stopTracd = true): Frontend[] {
  if (!stopTracd) return given
  const pids = new Set<number>()
  for (const f of given) {
    if (f.kind !== 'pidfile') continue
    try {
      pids.add(pidFromFile(f.pidfile, f.name, f.match))
    } catch {}
  }
  const units = new Set(given.flatMap((f) => (f.kind === 'unit' ? [f.unit] : [])))
  const found = tracdFrontends(env).filter((f) =>
    f.kind === 'process' ? !pids.has(f.pid) : f.kind === 'unit' ? !units.has(f.unit) : true,
  )
  return [...given, ...found]
}
