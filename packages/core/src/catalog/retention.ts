import {BkError} from '../errors.js'
import type {Clock} from './naming.js'

/**
 * Which backups to keep. Each rule keeps its own set; the plan keeps their union, and always the newest.
 *  keep N         the newest N backups
 *  keepDays N     every backup made in the last N days (N × 24 h before `now`)
 *  keepDaily N    the newest backup of each of the last N days that have backups
 *  keepWeekly N   the same per ISO week (Monday to Sunday)
 *  keepMonthly N  the same per calendar month
 * Days, weeks and months are calendar periods in `clock` (default local time, like borg).
 * Unlike borg, a period whose newest backup another rule already keeps still counts for this rule
 * (restic's reading): every rule stands alone, so adding a rule never removes anything.
 */
export interface RetentionPolicy {
  keep?: number
  keepDays?: number
  keepDaily?: number
  keepWeekly?: number
  keepMonthly?: number
  clock?: Clock
}

/** What a retention policy keeps and removes, with the reason for each. */
export interface RetentionPlan<E extends {name: string; date: Date}> {
  /** Newest first. */
  keep: E[]
  /** Newest first. */
  remove: E[]
  /** Why each kept entry is kept, by name ("newest, daily 2026-11-20, weekly 2026-W47"). */
  reasons: Map<string, string>
}

const RULES = ['keep', 'keepDays', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const
const FLAG: Record<(typeof RULES)[number], string> = {
  keep: '--keep',
  keepDays: '--keep-days',
  keepDaily: '--keep-daily',
  keepWeekly: '--keep-weekly',
  keepMonthly: '--keep-monthly',
}
const DAY = 86_400_000

function calendar(date: Date, clock: Clock): {y: number; m: number; d: number} {
  return clock === 'utc'
    ? {y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate()}
    : {y: date.getFullYear(), m: date.getMonth() + 1, d: date.getDate()}
}

const two = (n: number) => String(n).padStart(2, '0')

/** The calendar day of `date` in the clock's time zone (`YYYY-MM-DD`), the bucket of `--keep-daily`. */
export function dayKey(date: Date, clock: Clock): string {
  const c = calendar(date, clock)
  return `${c.y}-${two(c.m)}-${two(c.d)}`
}

/** The calendar month of `date` in the clock's time zone (`YYYY-MM`), the bucket of `--keep-monthly`. */
export function monthKey(date: Date, clock: Clock): string {
  const c = calendar(date, clock)
  return `${c.y}-${two(c.m)}`
}

/** ISO-8601 week, e.g. 2026-W47 (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekKey(date: Date, clock: Clock): string {
  const c = calendar(date, clock)
  const day = new Date(Date.UTC(c.y, c.m - 1, c.d))
  const weekday = (day.getUTCDay() + 6) % 7 // Monday = 0
  const thursday = new Date(day.getTime() + (3 - weekday) * DAY)
  const year = thursday.getUTCFullYear()
  const ordinal = Math.round((thursday.getTime() - Date.UTC(year, 0, 1)) / DAY) // 0-based
  return `${year}-W${two(Math.floor(ordinal / 7) + 1)}`
}

/** Throws a BkError unless the policy has at least one rule and every value is a non-negative integer. */
export function checkPolicy(policy: RetentionPolicy): void {
  let any = false
  for (const rule of RULES) {
    const value = policy[rule]
    if (value === undefined) continue
    if (!Number.isInteger(value) || value < 0) {
      throw new BkError(`${FLAG[rule]} must be a whole number of 0 or more, got ${value}`, {code: 'EUSAGE', exit: 2})
    }
    if (value > 0) any = true
  }
  if (!any) {
    throw new BkError(
      'no retention rule given: pass --keep, --keep-days, --keep-daily, --keep-weekly or --keep-monthly',
      {code: 'EUSAGE', exit: 2},
    )
  }
}

/** Plan what to keep and what to remove; nothing is touched (see prune). */
export function planRetention<E extends {name: string; date: Date}>(
  entries: readonly E[],
  policy: RetentionPolicy,
  now: Date = new Date(),
): RetentionPlan<E> {
  checkPolicy(policy)
  const clock = policy.clock ?? 'local'
  const sorted = [...entries].sort((a, b) => b.date.getTime() - a.date.getTime())
  const reasons = new Map<string, string[]>()
  const because = (entry: E, reason: string) => {
    const list = reasons.get(entry.name) ?? []
    list.push(reason)
    reasons.set(entry.name, list)
  }
  if (sorted[0]) because(sorted[0], 'newest')
  if (policy.keep) {
    for (const [i, e] of sorted.slice(0, policy.keep).entries()) because(e, `last ${policy.keep} (#${i + 1})`)
  }
  if (policy.keepDays) {
    const since = now.getTime() - policy.keepDays * DAY
    for (const e of sorted) if (e.date.getTime() > since) because(e, `within ${policy.keepDays} days`)
  }
  const periodic = (n: number | undefined, label: string, key: (d: Date, c: Clock) => string) => {
    if (!n) return
    let last: string | undefined
    let count = 0
    for (const e of sorted) {
      const period = key(e.date, clock)
      if (period === last) continue
      last = period
      because(e, `${label} ${period}`)
      if (++count >= n) break
    }
  }
  periodic(policy.keepDaily, 'daily', dayKey)
  periodic(policy.keepWeekly, 'weekly', isoWeekKey)
  periodic(policy.keepMonthly, 'monthly', monthKey)
  return {
    keep: sorted.filter((e) => reasons.has(e.name)),
    remove: sorted.filter((e) => !reasons.has(e.name)),
    reasons: new Map([...reasons].map(([name, list]) => [name, list.join(', ')])),
  }
}
