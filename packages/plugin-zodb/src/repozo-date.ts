// repozo's clock and date argument. Backup names carry a UTC stamp `YYYY-MM-DD-hh-mm-ss`; `--date` is compared
// with those stamps as a *string* (repozo's find_files: `root <= when`), which gives a partial date the meaning
// "before the start of that period": 2024-01-02 → the last state at or before 2024-01-01-23-59-59, and only a
// full six-field stamp is inclusive. bk keeps that meaning (so `bk zodb restore D` and `bin/restore D` pick
// the same files) but validates the date first instead of comparing any string.
import {BkError} from '@bkcli/core/errors'

const STAMP = /^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/
const DATE_ARG = /^(\d{4})-(\d\d)-(\d\d)(?:-(\d\d)(?:-(\d\d)(?:-(\d\d))?)?)?$/

/** `YYYY-MM-DD-hh-mm-ss` of a Date, in UTC (repozo's gen_filename). */
export function stampOf(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return (
    `${date.getUTCFullYear().toString().padStart(4, '0')}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())}-` +
    `${p(date.getUTCHours())}-${p(date.getUTCMinutes())}-${p(date.getUTCSeconds())}`
  )
}

export function isStamp(text: string): boolean {
  return STAMP.test(text)
}

/** The UTC Date a stamp names. */
export function dateOfStamp(stamp: string): Date {
  const [y, mo, d, h, mi, s] = stamp.split('-').map(Number) as [number, number, number, number, number, number]
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s))
}

/**
 * Validates a restore date `yyyy-mm-dd[-hh[-mm[-ss]]]` (UTC) and returns it unchanged: the string is what
 * repozo compares against backup stamps. Bad input → BkError naming the expected form.
 */
export function parseRestoreDate(text: string): string {
  const m = DATE_ARG.exec(text.trim())
  const fail = (why: string) =>
    new BkError(`invalid date '${text}': ${why}; use yyyy-mm-dd[-hh[-mm[-ss]]] in UTC, e.g. 2024-01-02-10-30-00`, {
      code: 'EDATE',
    })
  if (!m) throw fail('not in the form yyyy-mm-dd[-hh[-mm[-ss]]]')
  const [, y, mo, d, h, mi, s] = m
  const month = Number(mo)
  const day = Number(d)
  if (month < 1 || month > 12) throw fail('month out of range')
  const daysInMonth = new Date(Date.UTC(Number(y), month, 0)).getUTCDate()
  if (day < 1 || day > daysInMonth) throw fail('day out of range')
  if (h !== undefined && Number(h) > 23) throw fail('hour out of range')
  if (mi !== undefined && Number(mi) > 59) throw fail('minute out of range')
  if (s !== undefined && Number(s) > 59) throw fail('second out of range')
  return text.trim()
}
