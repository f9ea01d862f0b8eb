/**
 * The CSV dialect of roundup-admin export/import: Python's `csv.excel` with `delimiter=':'` and
 * `lineterminator='\n'` (quote `"`, quotes doubled, QUOTE_MINIMAL).
 */
import {createReadStream} from 'node:fs'

const NEEDS_QUOTES = /[:"\n\r]/

export function csvField(field: string): string {
  if (field === '') return ''
  if (!NEEDS_QUOTES.test(field)) return field
  return `"${field.replaceAll('"', '""')}"`
}

export function csvLine(fields: string[]): string {
  if (fields.length === 1 && fields[0] === '') return '""\n'
  return `${fields.map(csvField).join(':')}\n`
}

export class CsvError extends Error {}

/**
 * Stream the rows of a `:`-separated CSV file, like Python's csv.reader. `fieldLimit` mirrors
 * csv.field_size_limit (roundup's `[main] csv_field_size`).
 */
export async function* readCsv(file: string, fieldLimit = Number.POSITIVE_INFINITY): AsyncGenerator<string[]> {
  let row: string[] = []
  let field = ''
  let inQuotes = false
  let quoteSeen = false // just closed a quote inside a quoted field (could be a doubled quote)
  let atFieldStart = true
  let line = 1
  const check = () => {
    if (field.length > fieldLimit) throw new CsvError(`${file}:${line}: field larger than field limit (${fieldLimit})`)
  }
  for await (const chunk of createReadStream(file, {encoding: 'utf8', highWaterMark: 1 << 16})) {
    const text = chunk as string
    for (let i = 0; i < text.length; i++) {
      const c = text[i]
      if (inQuotes) {
        if (quoteSeen) {
          quoteSeen = false
          if (c === '"') {
            field += '"'
            continue
          }
          inQuotes = false
          // fall through: c is handled as an unquoted character below
        } else if (c === '"') {
          quoteSeen = true
          continue
        } else {
          if (c === '\n') line++
          field += c
          continue
        }
      }
      if (c === ':') {
        check()
        row.push(field)
        field = ''
        atFieldStart = true
      } else if (c === '\n') {
        line++
        if (!(row.length === 0 && field === '' && atFieldStart)) {
          check()
          row.push(field)
          yield row
        }
        row = []
        field = ''
        atFieldStart = true
      } else if (c === '\r') {
        // part of a \r\n line end
      } else if (c === '"' && atFieldStart) {
        inQuotes = true
        atFieldStart = false
      } else {
        field += c
        atFieldStart = false
      }
    }
  }
  if (inQuotes && !quoteSeen) throw new CsvError(`${file}:${line}: unexpected end of data inside a quoted field`)
  if (row.length > 0 || field !== '' || !atFieldStart) {
    check()
    row.push(field)
    yield row
  }
}
