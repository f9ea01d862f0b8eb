import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {BkError, messageOf} from '../errors.js'
import {redactText} from '../ui/redact.js'
import {lockTargets} from '../workflow/target-lock.js'
import {announce} from './alerts.js'
import type {AlertTargets, Job} from './config.js'

import {appendRun, type RunRecord} from './runlog.js'
import {stateDir} from './state.js'

/** How to start bk itself for a job: this node and this bin script, plus the config file the jobs came from. */
export interface BkInvocation {
  node: string
  script: string
  config?: string
  /** bk's own settings to carry into timers (BK_DATA_DIR, BK_STATE_DIR …): a timer does not inherit a shell. */
  env?: Record<string, string>
}

const TAIL = 4096
const ERROR_LINES = 20

interface Child {
  exit: number
  stdout: string
  stderrTail: string
}

/** Runs `bk <argv>`; its stderr is passed through (unless quiet) and its tail kept for alerts. */
function runBk(bk: BkInvocation, argv: string[], quiet: boolean): Promise<Child> {
  return new Promise((resolve) => {
    const args = [bk.script, ...argv, ...(bk.config && !argv.includes('--config') ? ['--config', bk.config] : [])]
    const child = spawn(bk.node, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let tail = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      if (!quiet) process.stderr.write(c)
      tail = (tail + c.toString()).slice(-TAIL)
    })
    child.on('error', (error) => resolve({exit: 127, stdout, stderrTail: messageOf(error)}))
    child.on('close', (code, signal) => resolve({exit: code ?? (signal ? 128 : 1), stdout, stderrTail: tail}))
  })
}

function parseResult(stdout: string): Record<string, unknown> | undefined {
  try {
    const doc = JSON.parse(stdout) as unknown
    return doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function lastLines(text: string): string {
  return redactText(text.trim().split('\n').slice(-ERROR_LINES).join('\n'))
}

/** The off-site copies a backup's result lists (core's `offsite[]`: where --copy-to put what). */
function copiesOf(doc: Record<string, unknown>): RunRecord['copies'] {
  if (!Array.isArray(doc.offsite)) return undefined
  return (doc.offsite as {target: string; tool: string; encrypted: boolean; artifacts: string[]}[]).map((c) => ({
    target: redactText(c.target),
    tool: c.tool,
    encrypted: c.encrypted,
    artifacts: c.artifacts,
  }))
}

function offsiteOf(doc: Record<string, unknown>): Pick<RunRecord, 'offsite' | 'copies'> {
  const copies = copiesOf(doc)
  return {offsite: Boolean(copies?.some((c) => c.artifacts.length > 0)), ...(copies ? {copies} : {})}
}

/**
 * One job: its lock (a second `bk run` of the same job is refused), the start ping, `bk <run> --json`, the
 * verification of what it made (job.verify), the run log, then the success or failure alerts (the job's and the
 * global ones). Never throws for the job's own failure: the record says it.
 */
export async function runJob(
  job: Job,
  options: {bk: BkInvocation; alerts: AlertTargets; quiet: boolean; warn: (message: string) => void},
): Promise<RunRecord> {
  const release = await lockTargets([join(stateDir(), 'jobs', job.name)], `bk run ${job.name}`)
  try {
    // A job's own targets win; the global ones stand in for those it does not set.
    const targets: AlertTargets[] = [
      {
        ping: job.ping ?? options.alerts.ping,
        ntfy: job.ntfy ?? options.alerts.ntfy,
        mail: job.mail ?? options.alerts.mail,
      },
    ]
    for (const t of targets) for (const w of await announce(t, {kind: 'start'})) options.warn(w)
    const started = new Date()
    const argv = job.argv.includes('--json') ? job.argv : [...job.argv, '--json']
    const child = await runBk(options.bk, argv, options.quiet)
    const doc = parseResult(child.stdout)
    const artifacts = Array.isArray(doc?.artifacts) ? (doc.artifacts as {path: string; bytes: number}[]) : undefined
    let verified: boolean | undefined
    let error = child.exit === 0 ? undefined : lastLines(child.stderrTail) || `exit ${child.exit}`
    if (child.exit === 0 && job.verify && artifacts && artifacts.length > 0) {
      verified = true
      for (const a of artifacts) {
        const check = await runBk(options.bk, [job.argv[0] as string, 'verify', a.path, '--json'], options.quiet)
        if (check.exit !== 0) {
          verified = false
          error = `verification of ${a.path} failed: ${lastLines(check.stderrTail)}`
        }
      }
    }
    const finished = new Date()
    const record: RunRecord = {
      job: job.name,
      command: redactText(job.run),
      app: job.argv[0],
      started: started.toISOString(),
      finished: finished.toISOString(),
      seconds: Math.round((finished.getTime() - started.getTime()) / 100) / 10,
      status: error ? 'failed' : 'ok',
      exit: child.exit === 0 && error ? 1 : child.exit,
      ...(error ? {error} : {}),
      ...(artifacts ? {artifacts: artifacts.map((a) => ({path: a.path, bytes: a.bytes}))} : {}),
      ...(verified === undefined ? {} : {verified}),
      ...(doc ? offsiteOf(doc) : {}),
    }
    await appendRun(record)
    const event = error
      ? {kind: 'fail' as const, subject: `bk job ${job.name} failed`, body: `${record.command}\n\n${error}`}
      : {kind: 'ok' as const}
    for (const t of targets) for (const w of await announce(t, event)) options.warn(w)
    return record
  } catch (error) {
    throw error instanceof BkError ? error : new BkError(`job ${job.name}: ${messageOf(error)}`)
  } finally {
    await release()
  }
}
