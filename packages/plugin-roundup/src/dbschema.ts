/**
 * The schema a tracker's database holds, checked against the tracker's schema.py: Roundup alters or drops
 * tables on open when the two differ, so bk refuses to work on a mismatched pair.
 */
import {BkError} from '@bkcli/core/errors'
import {type ClassKind, parseStoredSchema, SchemaError, schemaDifferences, type TrackerSchema} from './schema.js'
import {readSchemaPy, type Tracker} from './tracker.js'
import type {SqlConn} from './tracker-db.js'

export async function readStoredSchemaText(conn: SqlConn): Promise<string> {
  let rows: unknown[][]
  try {
    rows = await conn.all(`select ${conn.q('schema')} from ${conn.q('schema')}`)
  } catch (error) {
    throw new BkError(
      `the database has no Roundup schema table (${(error as Error).message}); is it a Roundup database?`,
    )
  }
  if (rows.length !== 1 || rows[0]![0] === null)
    throw new BkError('the database has no Roundup schema row; is the tracker initialised?')
  const v = rows[0]![0]
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
}

export interface SchemaPair {
  /** the database's schema, with class kinds taken from schema.py */
  schema: TrackerSchema
  /** schema.py read statically, when bk could read it */
  schemaPy?: TrackerSchema
  warnings: string[]
}

/** Read the database's schema and check it against schema.py (refuse when they differ). */
export async function loadSchema(
  conn: SqlConn,
  tracker: Tracker,
  options: {requireMatch?: boolean} = {},
): Promise<SchemaPair> {
  const warnings: string[] = []
  let schemaPy: TrackerSchema | undefined
  try {
    schemaPy = readSchemaPy(tracker)
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error
    warnings.push(`${error.message}; using the database's stored schema only`)
  }
  const kinds = new Map<string, ClassKind>(schemaPy?.classes.map((c) => [c.name, c.kind]) ?? [])
  let schema: TrackerSchema
  try {
    schema = parseStoredSchema(await readStoredSchemaText(conn), schemaPy ? kinds : undefined)
  } catch (error) {
    if (error instanceof SchemaError) throw new BkError(error.message)
    throw error
  }
  if (schemaPy) {
    const diff = schemaDifferences(schemaPy, schema, 'schema.py', 'the database')
    if (diff.length > 0 && options.requireMatch !== false) {
      throw new BkError(
        `schema.py does not match the database's schema (${diff[0]}${diff.length > 1 ? `, and ${diff.length - 1} more` : ''}); opening it would make Roundup alter tables — run roundup-admin migrate or restore the matching schema.py`,
      )
    }
    // keep schema.py's class order and journalling flags
    const order = new Map(schemaPy.classes.map((c, i) => [c.name, i]))
    schema.classes.sort((a, b) => (order.get(a.name) ?? 1e9) - (order.get(b.name) ?? 1e9))
    for (const c of schema.classes) {
      const py = schemaPy.classes.find((x) => x.name === c.name)
      if (py) {
        c.journalling = py.journalling
        for (const p of c.props) {
          const pp = py.props.find((x) => x.name === p.name)
          if (pp?.useDouble) p.useDouble = true
          if (pp?.indexme !== undefined) p.indexme = pp.indexme
        }
      }
    }
  }
  return {schema, schemaPy, warnings}
}

/** Choose classes like roundup-admin: `a,b` = those, `-a,b` = all but those. */
export function selectClasses(schema: TrackerSchema, spec?: string): string[] {
  const all = schema.classes.map((c) => c.name)
  if (!spec) return all
  const exclude = spec.startsWith('-')
  const names = (exclude ? spec.slice(1) : spec)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const n of names) {
    if (!all.includes(n)) throw new BkError(`no such class "${n}" (classes: ${all.join(', ')})`)
  }
  return exclude ? all.filter((c) => !names.includes(c)) : names
}
