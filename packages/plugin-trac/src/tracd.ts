/**
 * Finding the tracd processes that serve an environment, so a restore can stop them before the swap and start
 * them again after it (a running tracd keeps the old environment's cached data and open database otherwise).
 * A tracd serves an environment when its command line names the environment's folder, or its parent folder with
 * `-e`/`--env-parent-dir` (relative paths resolved from the process's folder). One running under a systemd
 * service is stopped and started through that unit instead (its Restart= would fight a SIGTERM).
 */
import {existsSync, realpathSync} from 'node:fs'
import {basename, dirname, resolve} from 'node:path'
import {type Frontend, findProcesses, type ProcessInfo, serviceUnitOf} from '@bkcli/core'

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
  for (const p of findProcesses((x) => isTracd(x.argv) && servesEnv(x, env))) {
    const unit = serviceUnitOf(p.pid)
    if (unit) {
      if (!units.has(unit)) out.push({kind: 'unit', unit})
      units.add(unit)
    } else out.push({kind: 'process', pid: p.pid, name: 'tracd'})
  }
  return out
}
