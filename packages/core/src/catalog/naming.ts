/**
 * How artifacts in a backup location are named, and how a name is read back into a date. The formats are
 * the original tools' own, written with strftime fields (%Y %m %d %H %M %S):
 *   IOTstack dated   `backup_%Y-%m-%d_%H%M.tar.gz`, local time   → datedNaming({prefix: 'backup_', format: '%Y-%m-%d_%H%M', suffix: '.tar.gz', clock: 'local'})
 *   Aegir/provision  `<uri>-%Y%m%d.%H%M%S.tar.gz`, local time    → datedNaming({prefix: 'example.com-', format: '%Y%m%d.%H%M%S', suffix: '.tar.gz', clock: 'local'})
 *   repozo           `%Y-%m-%d-%H-%M-%S.fs` (and .fsz, .deltafs…), UTC
 *   IOTstack rolling `backup_<date +%u>.tar.gz`                 → rollingNaming({prefix: 'backup_', suffix: '.tar.gz'})
 * Two artifacts in the same second (minute) get `_1`, `_2`… before the suffix, as provision does.
 */

export type Clock = 'utc' | 'local'

/** What a parsed artifact name says: its date, kind and sequence. */
export interface ParsedName {
  /** The date the name encodes (undefined for rolling names, whose date comes from the file). */
  date?: Date
  /** Collision number: 0 for the plain name, 1 for `_1`… */
  seq: number
  /** Which of the naming's suffixes the name ends with. */
  suffix: string
  /** Rolling slot (1–7 for weekdays). */
  slot?: number
}

/** How an application names its artifacts: makes a new name and parses an existing one. */
export interface Naming {
  readonly kind: 'dated' | 'rolling' | 'snapshot'
  /** Whether a new artifact replaces the one of the same name (rolling slots) instead of getting `_N`. */
  readonly reuses: boolean
  /** The name of an artifact made at `date`; `seq` > 0 gives the `_<seq>` collision variant. */
  format(date: Date, seq?: number): string
  /** Read a name back; undefined when the name is not one of this naming's. */
  parse(name: string): ParsedName | undefined
}

/** A naming scheme of dated artifacts: prefix, date format and suffixes. */
export interface DatedNamingOptions {
  prefix?: string
  /** The suffix of new names, or several (the first is used for new names; all are recognised). */
  suffix?: string | string[]
  clock?: Clock
  /** strftime fields %Y %m %d %H %M %S (and %%); default '%Y-%m-%d_%H%M%S'. */
  format?: string
  /** Separator of the collision number (default '_'). */
  collision?: string
}

interface Fields {
  Y: number
  m: number
  d: number
  H: number
  M: number
  S: number
}

const FIELD_WIDTH: Record<string, number> = {Y: 4, m: 2, d: 2, H: 2, M: 2, S: 2}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function fieldsOf(date: Date, clock: Clock): Fields {
  return clock === 'utc'
    ? {
        Y: date.getUTCFullYear(),
        m: date.getUTCMonth() + 1,
        d: date.getUTCDate(),
        H: date.getUTCHours(),
        M: date.getUTCMinutes(),
        S: date.getUTCSeconds(),
      }
    : {
        Y: date.getFullYear(),
        m: date.getMonth() + 1,
        d: date.getDate(),
        H: date.getHours(),
        M: date.getMinutes(),
        S: date.getSeconds(),
      }
}

/** A Date from calendar fields in the clock, or undefined when they are not a real moment (Feb 30th, 25:00). */
export function dateFromFields(f: Fields, clock: Clock): Date | undefined {
  const date =
    clock === 'utc' ? new Date(Date.UTC(f.Y, f.m - 1, f.d, f.H, f.M, f.S)) : new Date(f.Y, f.m - 1, f.d, f.H, f.M, f.S)
  const back = fieldsOf(date, clock)
  // Local times skipped by a DST change move; accept those (the tools wrote what `date` printed).
  if (back.Y !== f.Y || back.m !== f.m || back.d !== f.d) return undefined
  if (clock === 'utc' && (back.H !== f.H || back.M !== f.M || back.S !== f.S)) return undefined
  if (f.H > 23 || f.M > 59 || f.S > 59) return undefined
  return date
}

type Token = {field: keyof Fields} | {literal: string}

function tokenize(format: string): Token[] {
  const tokens: Token[] = []
  let literal = ''
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]
    if (ch === '%') {
      const next = format[i + 1]
      i++
      if (next === '%') {
        literal += '%'
        continue
      }
      if (next === undefined || !(next in FIELD_WIDTH))
        throw new Error(`naming format: unsupported field %${next ?? ''}`)
      if (literal) tokens.push({literal})
      literal = ''
      tokens.push({field: next as keyof Fields})
    } else {
      literal += ch
    }
  }
  if (literal) tokens.push({literal})
  return tokens
}

/** Names carrying a date in the given clock and strftime format. */
export function datedNaming(options: DatedNamingOptions = {}): Naming {
  const prefix = options.prefix ?? ''
  const suffixes = Array.isArray(options.suffix) ? options.suffix : [options.suffix ?? '']
  const clock = options.clock ?? 'utc'
  const sep = options.collision ?? '_'
  const tokens = tokenize(options.format ?? '%Y-%m-%d_%H%M%S')
  const fields = tokens.filter((t): t is {field: keyof Fields} => 'field' in t).map((t) => t.field)
  const body = tokens.map((t) => ('field' in t ? `(\\d{${FIELD_WIDTH[t.field]}})` : escapeRegExp(t.literal))).join('')
  // Longest suffixes first, so '.deltafsz' is not read as '.deltafs' + 'z'.
  const suffixAlternatives = [...suffixes]
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp)
    .join('|')
  const pattern = new RegExp(`^${escapeRegExp(prefix)}${body}(?:${escapeRegExp(sep)}(\\d+))?(${suffixAlternatives})$`)
  const pad = (n: number, width: number) => String(n).padStart(width, '0')
  return {
    kind: 'dated',
    reuses: false,
    format(date: Date, seq = 0): string {
      const f = fieldsOf(date, clock)
      const stamp = tokens.map((t) => ('field' in t ? pad(f[t.field], FIELD_WIDTH[t.field] ?? 2) : t.literal)).join('')
      return `${prefix}${stamp}${seq > 0 ? `${sep}${seq}` : ''}${suffixes[0]}`
    },
    parse(name: string): ParsedName | undefined {
      const match = pattern.exec(name)
      if (!match) return undefined
      const f: Fields = {Y: 1970, m: 1, d: 1, H: 0, M: 0, S: 0}
      fields.forEach((field, i) => {
        f[field] = Number(match[i + 1])
      })
      const date = dateFromFields(f, clock)
      if (!date) return undefined
      const seqText = match[fields.length + 1]
      return {date, seq: seqText ? Number(seqText) : 0, suffix: match[fields.length + 2] ?? ''}
    },
  }
}

/** bk's own naming where the original tool has none: `<prefix>%Y%m%dT%H%M%SZ<suffix>`, UTC, sortable. */
export function snapshotNaming(options: {prefix?: string; suffix?: string | string[]} = {}): Naming {
  const inner = datedNaming({...options, clock: 'utc', format: '%Y%m%dT%H%M%SZ'})
  return {...inner, kind: 'snapshot'}
}

/** A naming scheme with one rolling artifact per period (IOTstack-style). */
export interface RollingNamingOptions {
  prefix?: string
  suffix?: string
  /** Number of slots (default 7). */
  slots?: number
  /** The slot of a date (1..slots); default the ISO weekday in local time, like `date +%u` (Monday = 1). */
  slotOf?: (date: Date) => number
}

/** ISO weekday 1..7, Monday = 1 (`date +%u`), in the clock. */
export function isoWeekday(date: Date, clock: Clock = 'local'): number {
  const day = clock === 'utc' ? date.getUTCDay() : date.getDay()
  return day === 0 ? 7 : day
}

/** A fixed set of slots reused in turn, like IOTstack's `backup_<date +%u>.tar.gz` (1–7). */
export function rollingNaming(options: RollingNamingOptions = {}): Naming {
  const prefix = options.prefix ?? ''
  const suffix = options.suffix ?? ''
  const slots = options.slots ?? 7
  const slotOf = options.slotOf ?? ((date: Date) => isoWeekday(date, 'local'))
  const pattern = new RegExp(`^${escapeRegExp(prefix)}(\\d+)${escapeRegExp(suffix)}$`)
  return {
    kind: 'rolling',
    reuses: true,
    format(date: Date): string {
      const slot = slotOf(date)
      if (!Number.isInteger(slot) || slot < 1 || slot > slots)
        throw new Error(`rolling naming: slot ${slot} out of 1..${slots}`)
      return `${prefix}${slot}${suffix}`
    },
    parse(name: string): ParsedName | undefined {
      const match = pattern.exec(name)
      if (!match?.[1] || !/^[1-9]\d*$/.test(match[1])) return undefined
      const slot = Number(match[1])
      if (slot < 1 || slot > slots) return undefined
      return {seq: 0, suffix, slot}
    },
  }
}
