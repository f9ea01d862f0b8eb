/**
 * Maintenance mode the way each Drupal major actually honours it, in the site's database (provision writes a
 * settings.php flag that only Drupal 6 reads):
 * - D6: variable `site_offline` (serialized), cache `variables` in `cache`;
 * - D7: variable `maintenance_mode`, cache `variables` in `cache_bootstrap`;
 * - D8+: state `system.maintenance_mode` in `key_value` (collection `state`), cache `state` in `cache_bootstrap`.
 */
export interface SqlSession {
  engine: 'mysql' | 'postgres'
  /** Runs one statement with `?` placeholders; returns the rows. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>
}

interface Place {
  table: string
  keyWhere: string
  keyParams: string[]
  insertColumns: string[]
  on: string
  off: string
  cacheTable: string
  cacheId: string
}

export function maintenancePlace(major: number): Place {
  if (major >= 8) {
    return {
      table: 'key_value',
      keyWhere: 'collection = ? AND name = ?',
      keyParams: ['state', 'system.maintenance_mode'],
      insertColumns: ['collection', 'name', 'value'],
      on: 'b:1;',
      off: 'b:0;',
      cacheTable: 'cache_bootstrap',
      cacheId: 'state',
    }
  }
  return {
    table: 'variable',
    keyWhere: 'name = ?',
    keyParams: [major <= 6 ? 'site_offline' : 'maintenance_mode'],
    insertColumns: ['name', 'value'],
    on: 'i:1;',
    off: 'i:0;',
    cacheTable: major <= 6 ? 'cache' : 'cache_bootstrap',
    cacheId: 'variables',
  }
}

/** The raw stored value (serialized), or undefined when the row is missing. */
export async function readMaintenance(session: SqlSession, major: number): Promise<string | undefined> {
  const place = maintenancePlace(major)
  const rows = await session.query(`SELECT value FROM ${place.table} WHERE ${place.keyWhere}`, place.keyParams)
  const value = rows[0]?.value
  if (value === undefined || value === null) return undefined
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value)
}

export function isOn(serialized: string | undefined): boolean {
  if (serialized === undefined) return false
  return /^(?:[ib]:1;|s:1:"1";)$/.test(serialized.trim())
}

/**
 * Sets maintenance mode on (true), off (false) or back to a raw value read before (string; undefined removes
 * the row); clears the cache entry Drupal would otherwise serve the old value from. Returns the raw value
 * that was there before.
 */
export async function setMaintenance(
  session: SqlSession,
  major: number,
  to: boolean | string | undefined,
): Promise<string | undefined> {
  const place = maintenancePlace(major)
  const before = await readMaintenance(session, major)
  const value = to === true ? place.on : to === false ? place.off : to
  await session.query(`DELETE FROM ${place.table} WHERE ${place.keyWhere}`, place.keyParams)
  if (value !== undefined) {
    const marks = place.insertColumns.map(() => '?').join(', ')
    const blob = Buffer.from(value, 'utf8')
    await session.query(`INSERT INTO ${place.table} (${place.insertColumns.join(', ')}) VALUES (${marks})`, [
      ...place.keyParams,
      blob,
    ])
  }
  await session
    .query(`DELETE FROM ${place.cacheTable} WHERE cid = ?`, [place.cacheId])
    .catch(() => undefined /* the cache table may not exist (older minor versions) */)
  return before
}
