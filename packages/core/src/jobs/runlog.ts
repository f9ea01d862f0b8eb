import {appendFile, mkdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {stateDir} from './state.js'

/** One run of one job, as `bk run` records it and `bk status`/`bk report` read it. */
export interface RunRecord {
  job: string
  /** The job's command line, passwords in URLs masked. */
  command: string
  app?: string
  started: string
  finished: string
  seconds: number
  status: 'ok' | 'failed'
  exit: number
  /** The last lines of the error (masked). */
  error?: string
  artifacts?: {path: string; bytes: number}[]
  verified?: boolean
  /** Whether the run copied what it made off-site (its result's `offsite[]` lists a copy). */
  offsite?: boolean
  /** Where the copies went: target (masked), tool, encrypted, the artifacts' names. */
  copies?: {target: string; tool: string; encrypted: boolean; artifacts: string[]}[]
}

/** The run log (`runs.jsonl`) in bk's state folder (`BK_STATE_DIR`). */
export function runLogPath(): string {
  return join(stateDir(), 'runs.jsonl')
}

/** Appends one line (one write with O_APPEND: concurrent jobs never interleave within a record). */
export async function appendRun(record: RunRecord): Promise<void> {
  await mkdir(stateDir(), {recursive: true, mode: 0o700})
  await appendFile(runLogPath(), `${JSON.stringify(record)}\n`, {mode: 0o600})
}

/** Every recorded run, oldest first; a torn last line (a killed writer) is skipped. */
export async function readRuns(): Promise<RunRecord[]> {
  let text: string
  try {
    text = await readFile(runLogPath(), 'utf8')
  } catch {
    return []
  }
  const runs: RunRecord[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      runs.push(JSON.parse(line) as RunRecord)
    } catch {
      // a line cut by a crash: the next lines still count
    }
  }
  return runs
}
