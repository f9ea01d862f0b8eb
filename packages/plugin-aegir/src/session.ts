import type {DbClient} from '@bkcli/core/db'
import type {SqlSession} from './drupal/maintenance.js'

/** A SqlSession (`?` placeholders) over a core DbClient; PostgreSQL gets `$1, $2…`. */
export function sessionFor(client: DbClient, engine: 'mysql' | 'postgres'): SqlSession & {close(): Promise<void>} {
  return {
    engine,
    query(sql, params) {
      let n = 0
      const text = engine === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql
      return client.query(text, params)
    },
    close: () => client.close(),
  }
}
