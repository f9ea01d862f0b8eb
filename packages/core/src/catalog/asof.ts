import {BkError} from '../errors.js'
import {dateFromFields} from './naming.js'

const REPOZO = /^(\d{4})-(\d{2})-(\d{2})(?:-(\d{2})(?:-(\d{2})(?:-(\d{2}))?)?)?$/
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i

function bad(text: string): BkError {
  return new BkError(
    `invalid date '${text}': use yyyy-mm-dd[-hh[-mm[-ss]]] (UTC, as repozo) or ISO-8601 such as 2024-05-01T02:00:00Z`,
    {code: 'EDATE'},
  )
}

/**
 * A point in time given by a user (`--date`, `restore [date]`): repozo's `yyyy-mm-dd[-hh[-mm[-ss]]]` in UTC,
 * missing fields meaning the start of that period, or ISO-8601 (without an offset: UTC). The result is the
 * moment whose state is wanted: pick the newest backup at or before it (Catalog.asOf).
 * Unlike repozo, which compares strings (so a backup made exactly at 2024-01-02 00:00:00 is not "as of
 * 2024-01-02"), the moment itself is included; and a malformed date is an error instead of matching nothing.
 */
export function parseAsOf(text: string): Date {
  const trimmed = text.trim()
  const num = (s: string | undefined) => (s === undefined ? 0 : Number(s))
  let match = REPOZO.exec(trimmed)
  if (match) {
    const date = dateFromFields(
      {Y: num(match[1]), m: num(match[2]), d: num(match[3]), H: num(match[4]), M: num(match[5]), S: num(match[6])},
      'utc',
    )
    if (!date) throw bad(text)
    return date
  }
  match = ISO.exec(trimmed)
  if (match) {
    const fields = {
      Y: num(match[1]),
      m: num(match[2]),
      d: num(match[3]),
      H: num(match[4]),
      M: num(match[5]),
      S: num(match[6]),
    }
    if (!dateFromFields(fields, 'utc')) throw bad(text)
    const zone = match[8]
      ? match[8].toUpperCase() === 'Z'
        ? 'Z'
        : match[8].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')
      : 'Z'
    const iso = `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6] ?? '00'}${match[7] ?? ''}${zone}`
    const date = new Date(iso)
    if (Number.isNaN(date.getTime())) throw bad(text)
    return date
  }
  throw bad(text)
}
