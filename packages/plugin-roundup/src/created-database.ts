/**
 * A PostgreSQL/MySQL database bk created for a staged tracker home (restore, migrate-backend, move) is recorded
 * beside the home in `.<home>.bk-db-<pid>.json` until the staged home is committed. A run killed in between
 * leaves the marker and its stage: the next run on that home drops the database (it belongs to a home that
 * never went live) and says so. No secret is written: the stage's own config.ini is read to connect.
 */
import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'
import {pidAlive} from '@bkcli/core/safety'
import {dropDatabaseOf} from './target.js'
import {describeDatabase, openTracker, type Tracker} from './tracker.js'

interface Marker {
  pid: number
  /** The staged home whose config.ini names the database. */
  stage: string
  database: string
}

const MARKER = /^\.(.+)\.bk-db-(\d+)\.json$/

export function markerPath(home: string, pid = process.pid): string {
  const abs = resolve(home)
  return join(dirname(abs), `.${basename(abs)}.bk-db-${pid}.json`)
}

/** Record that `staged` (a home not yet committed) has a database bk created. */
export function markCreatedDatabase(home: string, staged: Tracker): string {
  const path = markerPath(home)
  const marker: Marker = {pid: process.pid, stage: staged.home, database: describeDatabase(staged)}
  writeFileSync(path, `${JSON.stringify(marker)}\n`, {mode: 0o600})
  return path
}

export function clearMarker(path: string | undefined): void {
  if (path) rmSync(path, {force: true})
}

/**
 * Under the home's lock, before anything else: drop the databases of stages that killed runs left (their stage
 * still there, never committed), then remove the markers. Returns one line per database dropped.
 */
export async function dropOrphanDatabases(home: string): Promise<string[]> {
  const abs = resolve(home)
  const dir = dirname(abs)
  const lines: string[] = []
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  for (const name of names.sort()) {
    const match = MARKER.exec(name)
    if (!match || match[1] !== basename(abs)) continue
    const path = join(dir, name)
    let marker: Marker | undefined
    try {
      marker = JSON.parse(readFileSync(path, 'utf8')) as Marker
    } catch {
      marker = undefined
    }
    if (marker && marker.pid !== process.pid && pidAlive(marker.pid)) continue
    if (marker && existsSync(join(marker.stage, 'config.ini'))) {
      const staged = await openTracker(marker.stage)
      if (describeDatabase(staged) === marker.database) {
        await dropDatabaseOf(staged)
        lines.push(`dropped ${marker.database}, made by an interrupted run for a home that never went live`)
      }
    }
    rmSync(path, {force: true})
  }
  return lines
}
