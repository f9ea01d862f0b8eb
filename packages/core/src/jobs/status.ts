import {lstat} from 'node:fs/promises'
import type {Job} from './config.js'
import {type RunRecord, readRuns} from './runlog.js'

/** A job's state as `bk status` reports it. */
export type JobState = 'ok' | 'stale' | 'failed' | 'never' | 'missing'

/** A job's last run and last good backup: age, size, verified, off-site, state. */
export interface JobStatus {
  job: string
  schedule: string
  state: JobState
  /** The newest run, good or not. */
  lastRun?: {started: string; status: RunRecord['status']; error?: string}
  /** The newest good run and what it made. */
  lastGood?: {
    finished: string
    ageSeconds: number
    bytes: number
    artifacts: {path: string; bytes: number; present: boolean}[]
    verified?: boolean
    offsite?: boolean
    /** Where the off-site copies of that run went (targets, passwords masked). */
    offsiteTargets?: string[]
  }
  staleAfterSeconds: number
  problems: string[]
}

/**
 * What each job's last runs say and whether their artifacts are still where the run put them. A job is ok when
 * its newest run succeeded, its newest good run is younger than stale-after (twice its schedule) and every
 * artifact of that run is still present with its size.
 */
export async function jobStatuses(jobs: Job[], now = new Date()): Promise<JobStatus[]> {
  const runs = await readRuns()
  const out: JobStatus[] = []
  for (const job of jobs) {
    const mine = runs.filter((r) => r.job === job.name)
    const last = mine.at(-1)
    const good = [...mine].reverse().find((r) => r.status === 'ok')
    const problems: string[] = []
    const status: JobStatus = {
      job: job.name,
      schedule: job.schedule,
      state: 'ok',
      staleAfterSeconds: Math.round(job.staleAfterMs / 1000),
      problems,
    }
    if (last) status.lastRun = {started: last.started, status: last.status, ...(last.error ? {error: last.error} : {})}
    if (good) {
      const artifacts = await Promise.all(
        (good.artifacts ?? []).map(async (a) => {
          const st = await lstat(a.path).catch(() => undefined)
          // A folder artifact's size is its files' sum: present is enough; a file must still have its size.
          const present = Boolean(st && (st.isDirectory() || st.size === a.bytes))
          return {...a, present}
        }),
      )
      status.lastGood = {
        finished: good.finished,
        ageSeconds: Math.round((now.getTime() - Date.parse(good.finished)) / 1000),
        bytes: artifacts.reduce((n, a) => n + a.bytes, 0),
        artifacts,
        ...(good.verified === undefined ? {} : {verified: good.verified}),
        ...(good.offsite === undefined ? {} : {offsite: good.offsite}),
        ...(good.copies?.length ? {offsiteTargets: good.copies.map((c) => c.target)} : {}),
      }
    }
    if (!last) {
      status.state = 'never'
      problems.push('never ran')
    } else if (last.status === 'failed') {
      status.state = 'failed'
      problems.push(`last run failed: ${(last.error ?? '').split('\n').at(-1)}`)
    }
    if (status.state === 'ok' || status.state === 'failed') {
      if (!status.lastGood) {
        if (status.state === 'ok') status.state = 'stale'
        problems.push('no good run yet')
      } else {
        if (status.lastGood.ageSeconds > status.staleAfterSeconds) {
          if (status.state === 'ok') status.state = 'stale'
          problems.push(
            `last good run is ${Math.round(status.lastGood.ageSeconds / 3600)} h old (stale after ${Math.round(status.staleAfterSeconds / 3600)} h)`,
          )
        }
        const gone = status.lastGood.artifacts.filter((a) => !a.present)
        if (gone.length > 0) {
          if (status.state === 'ok') status.state = 'missing'
          problems.push(`artifact missing or changed: ${gone.map((a) => a.path).join(', ')}`)
        }
      }
    }
    out.push(status)
  }
  return out
}
