/**
 * Roundup's Date and Interval values (roundup/date.py) as each backend stores them and as export writes them.
 * All Roundup dates are UTC; no backend stores a time zone.
 */
import {PyTuple, type PyValue} from './pyrepr.js'

export type Backend = 'sqlite' | 'postgresql' | 'mysql'

export interface RDate {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  /** float seconds, as Python holds them */
  second: number
}

const SERIALISED = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d?(?:\.\d+)?)/
const FORMAL = /^(\d{4})-(\d\d?)-(\d\d?)[. T](\d?\d):(\d\d)(?::(\d\d?(?:\.\d+)?))?$/

export class DateFormatError extends Error {}

/** date.Date(str): the serialised form (sqlite) or yyyy-mm-dd.HH:MM:SS[.fff]. */
export function parseRoundupDate(text: string): RDate {
  const s = SERIALISED.exec(text)
  if (s) {
    return {year: +s[1]!, month: +s[2]!, day: +s[3]!, hour: +s[4]!, minute: +s[5]!, second: Number.parseFloat(s[6]!)}
  }
  const f = FORMAL.exec(text)
  if (f) {
    // date_re path: float seconds, fraction truncated to whole microseconds through a float product
    const S = Number.parseFloat(f[6] ?? '0')
    const micro = Math.trunc((S - Math.trunc(S)) * 1000000)
    return {
      year: +f[1]!,
      month: +f[2]!,
      day: +f[3]!,
      hour: +f[4]!,
      minute: +f[5]!,
      second: Math.trunc(S) + micro / 1000000,
    }
  }
  throw new DateFormatError(`not a Roundup date: ${JSON.stringify(text)}`)
}

/** A datetime read by psycopg2/MySQLdb: seconds = int seconds + microseconds/1e6 (float noise included). */
export function parseSqlTimestamp(text: string): RDate {
  const f = FORMAL.exec(text.trim())
  if (!f) throw new DateFormatError(`not a timestamp: ${JSON.stringify(text)}`)
  return fromDatetimeText(f)
}

function fromDatetimeText(f: RegExpExecArray): RDate {
  const secText = f[6] ?? '0'
  const [whole, frac = ''] = secText.split('.')
  const micro = Number((frac + '000000').slice(0, 6))
  return {
    year: +f[1]!,
    month: +f[2]!,
    day: +f[3]!,
    hour: +f[4]!,
    minute: +f[5]!,
    second: Number(whole) + micro / 1000000,
  }
}

/** Date.get_tuple(): the 9-tuple written by export. */
export function dateTuple(d: RDate): PyTuple {
  const i = (n: number) => BigInt(n)
  return new PyTuple([i(d.year), i(d.month), i(d.day), i(d.hour), i(d.minute), d.second, 0n, 0n, 0n])
}

/** date.Date(9-tuple) as import builds it (seconds capped at 59.999). */
export function dateFromTuple(v: PyValue): RDate {
  if (!(v instanceof PyTuple) || v.items.length !== 9) throw new DateFormatError(`not a date tuple: ${String(v)}`)
  const n = v.items.map((x) => (typeof x === 'bigint' ? Number(x) : typeof x === 'number' ? x : Number.NaN))
  if (n.some(Number.isNaN)) throw new DateFormatError('not a date tuple')
  return {year: n[0]!, month: n[1]!, day: n[2]!, hour: n[3]!, minute: n[4]!, second: Math.min(n[5]!, 59.999)}
}

const p2 = (n: number) => String(n).padStart(2, '0')
const p4 = (n: number) => String(n).padStart(4, '0')
const sec3 = (s: number) => s.toFixed(3).padStart(6, '0')

/** Date.serialise(): '%04d%02d%02d%02d%02d%06.3f' (the sqlite form). */
export function serialiseDate(d: RDate): string {
  return `${p4(d.year)}${p2(d.month)}${p2(d.day)}${p2(d.hour)}${p2(d.minute)}${sec3(d.second)}`
}

/** The value each backend's hyperdb_to_sql_value writes for a Date. */
export function dateToSql(d: RDate, backend: Backend): string {
  const head = `${p4(d.year)}-${p2(d.month)}-${p2(d.day)} ${p2(d.hour)}:${p2(d.minute)}:`
  if (backend === 'sqlite') return serialiseDate(d)
  if (backend === 'postgresql') return head + sec3(d.second)
  return head + p2(Math.trunc(d.second))
}

/** The Date a backend's getjournal builds from a date kept as text inside journal params. */
export function dateFromParamText(text: string, backend: Backend): RDate {
  return parseRoundupDate(backend === 'sqlite' ? text : text.replace(' ', '.'))
}

/** The Date a backend returns for a stored value. */
export function dateFromSql(v: unknown, backend: Backend): RDate {
  const text = Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
  if (backend === 'sqlite') return parseRoundupDate(text)
  return parseSqlTimestamp(text)
}

export interface RInterval {
  sign: number
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

const INTERVAL =
  /^\s*([-+])?\s*(?:(\d+)\s*y)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(?:(\d+):(\d+))?(?::(\d+))?)?\s*$/
const INTERVAL_SERIALISED = /^([+-])?1?([ ]{3}\d|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/

/** date.Interval(str) for the stored forms ('+ 1d 2:03', '- 21d', '00:00', serialised). */
export function parseInterval(text: string): RInterval {
  const s = INTERVAL_SERIALISED.exec(text)
  if (s) {
    return {
      sign: s[1] === '-' ? -1 : 1,
      year: Number(s[2]!.trim()),
      month: +s[3]!,
      day: +s[4]!,
      hour: +s[5]!,
      minute: +s[6]!,
      second: +s[7]!,
    }
  }
  const m = INTERVAL.exec(text)
  if (!m) throw new DateFormatError(`not a Roundup interval: ${JSON.stringify(text)}`)
  const n = (x: string | undefined) => (x === undefined ? 0 : Number(x))
  return {
    sign: m[1] === '-' ? -1 : 1,
    year: n(m[2]),
    month: n(m[3]),
    day: n(m[5]) + 7 * n(m[4]),
    hour: n(m[6]),
    minute: n(m[7]),
    second: n(m[8]),
  }
}

export function intervalTuple(v: RInterval): PyTuple {
  return new PyTuple([v.sign, v.year, v.month, v.day, v.hour, v.minute, v.second].map((x) => BigInt(x)))
}

export function intervalFromTuple(v: PyValue): RInterval {
  if (!(v instanceof PyTuple) || v.items.length !== 7) throw new DateFormatError('not an interval tuple')
  const n = v.items.map((x) => Math.trunc(Number(x)))
  return {sign: n[0]!, year: n[1]!, month: n[2]!, day: n[3]!, hour: n[4]!, minute: n[5]!, second: n[6]!}
}

/** str(Interval): what every backend stores. */
export function intervalToString(v: RInterval): string {
  const l: string[] = []
  if (v.year) l.push(`${v.year}y`)
  if (v.month) l.push(`${v.month}m`)
  if (v.day) l.push(`${v.day}d`)
  if (v.second) l.push(`${v.hour}:${p2(v.minute)}:${p2(v.second)}`)
  else if (v.hour || v.minute) l.push(`${v.hour}:${p2(v.minute)}`)
  if (l.length > 0) l.unshift(v.sign < 0 ? '-' : '+')
  else l.push('00:00')
  return l.join(' ')
}

/** Interval.as_seconds(): the `__<p>_int__` column. */
export function intervalSeconds(v: RInterval): number {
  return ((((v.year * 365 + v.month * 30 + v.day) * 24 + v.hour) * 60 + v.minute) * 60 + v.second) * v.sign
}
