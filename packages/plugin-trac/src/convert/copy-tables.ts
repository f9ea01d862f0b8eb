/**
 * Copies every table of a source database into an empty target (what trac/db/convert.py `copy_tables`
 * does, except that tables only the source has — plugin tables — are kept, and each table's row count is
 * checked before the target transaction commits).
 */
import {BkError} from '@bkcli/core/errors'
import {isTracTable, preferTracDefinition, type TableDef} from './schema.js'
import type {SourceDb} from './source.js'
import type {TargetDb} from './target.js'

export interface TableCopy {
  name: string
  rows: number
  /** false for a plugin table (one trac-admin convert_db would have dropped). */
  trac: boolean
}

export interface CopyOptions {
  batchSize?: number
  onTable?: (table: TableCopy) => void
  onRows?: (table: string, rows: number) => void
}

export async function copyTables(source: SourceDb, target: TargetDb, options: CopyOptions = {}): Promise<TableCopy[]> {
  const batchSize = options.batchSize ?? 500
  const existing = await target.existingTables()
  if (existing.length > 0) {
    const list = existing.slice(0, 5).join(', ') + (existing.length > 5 ? ', …' : '')
    throw new BkError(`the target database is not empty (tables: ${list}); give an empty database`, {
      code: 'ETARGETNOTEMPTY',
    })
  }
  const tables: TableDef[] = (await source.tables()).map(preferTracDefinition)
  const done: TableCopy[] = []
  await target.begin(tables)
  try {
    for (const table of tables) {
      let rows = 0
      for await (const batch of source.rows(table, batchSize)) {
        await target.insert(table, batch)
        rows += batch.length
        options.onRows?.(table.name, rows)
      }
      const expected = await source.count(table.name)
      const written = await target.count(table.name)
      if (written !== expected || rows !== expected) {
        throw new BkError(
          `table ${table.name}: ${written} rows written but the source has ${expected}; nothing was committed`,
        )
      }
      const copy = {name: table.name, rows, trac: isTracTable(table.name)}
      done.push(copy)
      options.onTable?.(copy)
    }
    await target.resetSequences(tables)
    await target.commit()
  } catch (error) {
    await target.rollback()
    throw error
  }
  return done
}
