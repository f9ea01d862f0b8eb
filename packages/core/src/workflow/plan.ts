import {formatBytes} from '../ui/progress.js'

/**
 * What a command would do, computed without changing anything. Every mutating command builds one; core prints
 * it and stops under --dry-run, shows it before asking for confirmation, and hands it to the act phase.
 */
export interface Plan {
  /** One line: "restore /b/x.tar.gz into /srv/trac/main". */
  summary: string
  steps: PlanStep[]
  /** Things the user should know before saying yes (a running server, a missing .env, …). */
  warnings?: string[]
  /** Files the run would write, with their whole text (unit files, cron lines), shown under --dry-run. */
  files?: {path: string; text: string}[]
}

/** The verbs of a plan, so every plugin's plan reads alike. */
export type PlanOp =
  | 'create' // a new artifact, folder or file
  | 'replace' // an existing target swapped for a new one
  | 'remove' // deleted (prune, stale side files)
  | 'keep' // the previous state kept as …
  | 'copy' // data copied somewhere (off-site, hotcopy)
  | 'load' // a database filled from a dump
  | 'drop' // a database or user dropped
  | 'stop' // a service stopped, maintenance mode on
  | 'start' // a service started, maintenance mode off
  | 'run' // an external program or hook run
  | 'check' // a verification that runs before anything changes
  | 'write' // a file written or rewritten in place (settings, config)

/** One step of a plan: what it does to which target, with a detail and size when known. */
export interface PlanStep {
  op: PlanOp
  /** The thing acted on: a path, a database name, a service. */
  target: string
  /** A few words more: "PostgreSQL database trac_main", "from backup_2026-11-21.tar.gz". */
  detail?: string
  /** Size involved, when known. */
  bytes?: number
}

/** A plan step. */
export function step(op: PlanOp, target: string, detail?: string, bytes?: number): PlanStep {
  return {op, target, ...(detail ? {detail} : {}), ...(bytes === undefined ? {} : {bytes})}
}

/** The human form of a plan: a summary line, one indented line per step, warnings. */
export function formatPlan(plan: Plan): string[] {
  const width = Math.max(0, ...plan.steps.map((s) => s.op.length))
  const lines = [`Plan: ${plan.summary}`]
  for (const s of plan.steps) {
    const extra = [s.detail, s.bytes === undefined ? undefined : formatBytes(s.bytes)].filter(Boolean).join(', ')
    lines.push(`  ${s.op.padEnd(width)}  ${s.target}${extra ? `  (${extra})` : ''}`)
  }
  if (plan.steps.length === 0) lines.push('  nothing to do')
  for (const w of plan.warnings ?? []) lines.push(`  warning: ${w}`)
  for (const f of plan.files ?? []) lines.push('', `# ${f.path}`, ...f.text.replace(/\n$/, '').split('\n'))
  return lines
}
