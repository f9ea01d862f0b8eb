/**
 * Conversions between what a backend stores and the Python values export writes / import reads,
 * following rdbms_common's sql_to_hyperdb_value / hyperdb_to_sql_value and getjournal / _journal_marshal.
 */
import {csvField, csvLine} from './csv.js'
import {bytesRepr, evalImport, PyDict, PyTuple, type PyValue, pyFloatRepr, reprExport} from './pyrepr.js'
import {
  type Backend,
  dateFromParamText,
  dateFromSql,
  dateFromTuple,
  dateToSql,
  dateTuple,
  intervalFromTuple,
  intervalToString,
  intervalTuple,
  parseInterval,
  parseRoundupDate,
  type RDate,
} from './rdate.js'
import type {PropDef} from './schema.js'

function text(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
}

/** The export value of one stored column (never called for Multilinks). */
export function exportValue(p: PropDef, v: unknown, backend: Backend): PyValue {
  if (v === null || v === undefined) return null
  switch (p.type) {
    case 'String':
    case 'Password':
      return text(v)
    case 'Date':
      return dateTuple(dateFromSql(v, backend))
    case 'Interval':
      return intervalTuple(parseInterval(text(v)))
    case 'Link':
      return typeof v === 'number' || typeof v === 'bigint' ? String(v) : text(v)
    case 'Boolean':
      if (v === 'TRUE' || v === true) return 1n
      if (v === 'FALSE' || v === false) return 0n
      return BigInt(Math.trunc(Number(v)))
    case 'Integer':
      return BigInt(Math.trunc(Number(v)))
    case 'Number': {
      // _num_cvt: int(str(x)) when that works (a driver returning an integer), else float
      if (typeof v === 'bigint') return v
      if (typeof v === 'string' && /^[-+]?\d+$/.test(v)) return BigInt(v)
      return Number(v)
    }
    default:
      return text(v)
  }
}

/** A sqlite Date as Date.serialise() wrote it: yyyymmddHHMMSS.fff (date.Date reads this prefix). */
const SQLITE_DATE = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d?(?:\.\d+)?)/

/**
 * The export field (CSV-quoted) of a stored sqlite date: `reprExport(dateTuple(…))` written straight from the text,
 * without the tuple, its bigints and the generic repr (a date is in every row and every journal entry).
 */
function sqliteDateField(v: unknown): string | undefined {
  const s = SQLITE_DATE.exec(Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
  if (!s) return undefined
  return `(${+s[1]!}, ${+s[2]!}, ${+s[3]!}, ${+s[4]!}, ${+s[5]!}, ${pyFloatRepr(Number.parseFloat(s[6]!))}, 0, 0, 0)`
}

/** A stored string's export field: its bytes repr, CSV-quoted when needed. */
const stringField = (v: unknown): string => csvField(bytesRepr(text(v)))

/**
 * The CSV field export writes for one stored column of `p` (never a Multilink): the same text as
 * `csvField(reprExport(exportValue(p, v, backend)))`, with the common cases (strings, links, sqlite dates) written
 * directly.
 */
export function exportField(p: PropDef, backend: Backend): (v: unknown) => string {
  const generic = (v: unknown) => csvField(reprExport(exportValue(p, v, backend)))
  switch (p.type) {
    case 'String':
    case 'Password':
      return (v) => (v === null || v === undefined ? 'None' : stringField(v))
    case 'Link':
      return (v) => {
        if (v === null || v === undefined) return 'None'
        // a node id: digits, nothing to escape or quote
        if (typeof v === 'number' || typeof v === 'bigint') return `'${v}'`
        return stringField(v)
      }
    case 'Date':
      if (backend !== 'sqlite') return generic
      return (v) => (v === null || v === undefined ? 'None' : (sqliteDateField(v) ?? generic(v)))
    default:
      return generic
  }
}

/** The export field of a Multilink's ids (ascending): `['1', '2']`, nothing in it to quote. */
export function multilinkField(ids: number[]): string {
  if (ids.length === 0) return '[]'
  return `['${ids.join("', '")}']`
}

/** A link/unlink journal entry's params as Roundup stores them: `('<class>', '<id>', '<property>')`. */
const LINK_PARAMS = /^\('[A-Za-z0-9_]+', '[0-9]+', '[A-Za-z0-9_]+'\)$/

/**
 * One journal row as export_journals writes it, the CSV line itself, or undefined when history() drops the row:
 * `csvLine(exportJournalRow(row, props, backend))`, with the most common entries (a create with no params, a link or
 * unlink, on sqlite) written without parsing and re-writing their params (their repr is the stored text).
 */
export function exportJournalLine(row: unknown[], props: Map<string, PropDef>, backend: Backend): string | undefined {
  const [nodeid, date, tag, action, paramsText] = row
  if (
    backend === 'sqlite' &&
    typeof nodeid === 'number' &&
    typeof action === 'string' &&
    typeof paramsText === 'string'
  ) {
    let params: string | undefined
    if (action === 'create' && paramsText === '{}') params = '{}'
    else if ((action === 'link' || action === 'unlink') && LINK_PARAMS.test(paramsText)) params = paramsText
    const d = params === undefined ? undefined : sqliteDateField(date)
    if (params !== undefined && d !== undefined) {
      const user = tag === null || tag === undefined ? 'None' : stringField(tag)
      return `'${nodeid}':${d}:${user}:'${action}':${params}\n`
    }
  }
  const fields = exportJournalRow(row, props, backend)
  return fields && csvLine(fields)
}

function truthy(v: PyValue): boolean {
  if (v === null || v === false || v === 0 || v === 0n || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (v instanceof PyTuple) return v.items.length > 0
  if (v instanceof PyDict) return v.entries.length > 0
  return true
}

/**
 * One journal row as export_journals writes it (5 repr fields), or undefined when history() drops the row.
 * `props` are all the class's properties (getprops()).
 */
export function exportJournalRow(row: unknown[], props: Map<string, PropDef>, backend: Backend): string[] | undefined {
  const [nodeid, date, tag, action, paramsText] = row
  let params: PyValue = evalImport(text(paramsText))
  const act = text(action)
  if (params instanceof PyDict) {
    // getjournal: backend values back to hyperdb values (falsy values are left alone)
    for (const entry of params.entries) {
      const [k, v] = entry
      if (typeof k !== 'string' || !truthy(v)) continue
      const p = props.get(k)
      if (!p) continue
      entry[1] = journalValueFromBackend(p, v, backend)
    }
  }
  // history(enforceperm=False, skipquiet=False): which entries survive
  if (params instanceof PyDict && params.entries.length > 0) {
    // kept
  } else if ((act === 'link' || act === 'unlink') && params instanceof PyTuple) {
    if (params.items.length !== 3) return undefined
  } else if (!(act === 'create' || act === 'retired' || act === 'restored')) {
    return undefined
  }
  if (act === 'set' && params instanceof PyDict) {
    const out = new PyDict()
    for (const [k, v] of params.entries) {
      if (typeof k !== 'string') continue
      if (!props.has(k)) continue
      out.entries.push([k, v])
    }
    params = out
  } else if (act === 'create' && truthy(params)) {
    params = new PyDict()
  }
  const d = dateTuple(dateFromSql(date, backend))
  const user: PyValue = tag === null || tag === undefined ? null : text(tag)
  return [reprExport(String(nodeid)), reprExport(d), reprExport(user), reprExport(act), reprExport(params)]
}

/** getjournal's conversion of a value inside set params; Dates and Intervals become export tuples. */
function journalValueFromBackend(p: PropDef, v: PyValue, backend: Backend): PyValue {
  switch (p.type) {
    case 'Date':
      if (typeof v === 'string') return dateTuple(dateFromParamText(v, backend))
      return v
    case 'Interval':
      if (typeof v === 'string') return intervalTuple(parseInterval(v))
      return v
    case 'Boolean':
      if (v === 'TRUE' || v === true) return 1n
      if (v === 'FALSE' || v === false) return 0n
      if (typeof v === 'string' || typeof v === 'number') return BigInt(Math.trunc(Number(v)))
      return v
    default:
      return v
  }
}

/** import: an export's journal set-param value back to what the backend's _journal_marshal stores. */
export function journalValueToBackend(p: PropDef, v: PyValue, backend: Backend): PyValue {
  if (v === null) return v
  switch (p.type) {
    case 'Date':
      return v instanceof PyTuple ? dateToSql(dateFromTuple(v), backend) : v
    case 'Interval':
      return v instanceof PyTuple ? intervalToString(intervalFromTuple(v)) : v
    case 'Boolean':
      if (backend === 'postgresql' && (typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'number')) {
        return Number(v) ? 'TRUE' : 'FALSE'
      }
      if (typeof v === 'boolean') return BigInt(Number(v))
      return v
    default:
      return v
  }
}

/** A backend's journal params back to export form (for migrate: re-encode for another backend). */
export function convertJournalParams(
  paramsText: string,
  action: string,
  props: Map<string, PropDef>,
  from: Backend,
  to: Backend,
): string {
  if (action !== 'set') return paramsText
  const params = evalImport(paramsText)
  if (!(params instanceof PyDict)) return paramsText
  let changed = false
  for (const entry of params.entries) {
    const [k, v] = entry
    if (typeof k !== 'string' || v === null) continue
    const p = props.get(k)
    if (!p || !(p.type === 'Date' || p.type === 'Boolean')) continue
    const hv = truthy(v) || p.type === 'Boolean' ? journalValueFromBackend(p, v, from) : v
    entry[1] = journalValueToBackend(p, hv, to)
    changed = true
  }
  return changed ? reprExport(params) : paramsText
}

/** import: a CSV value of a property to the value stored in the backend's column. */
export function importValue(p: PropDef, v: PyValue, backend: Backend): unknown {
  if (v === null) return null
  switch (p.type) {
    case 'Date':
      return dateToSql(dateFromTuple(v), backend)
    case 'Interval':
      return intervalToString(intervalFromTuple(v))
    case 'Link':
      return Number(v)
    case 'Boolean':
      if (backend === 'postgresql') return Boolean(Number(v))
      return Number(v)
    case 'Integer':
      return Number(v)
    case 'Number':
      return Number(v)
    default:
      return typeof v === 'string' ? v : String(v)
  }
}

export function intervalSecondsOf(v: PyValue): number | null {
  if (v === null) return null
  const i = intervalFromTuple(v)
  return ((((i.year * 365 + i.month * 30 + i.day) * 24 + i.hour) * 60 + i.minute) * 60 + i.second) * i.sign
}

/** A stored date to another backend's storage text (migrate). */
export function convertDate(v: unknown, from: Backend, to: Backend): string | null {
  if (v === null || v === undefined) return null
  const d: RDate = dateFromSql(v, from)
  return dateToSql(d, to)
}

export {parseRoundupDate}
