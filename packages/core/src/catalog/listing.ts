import {formatBytes} from '../ui/progress.js'
import type {CatalogEntry} from './catalog.js'

/** One backup as `bk <app> list` shows it: JSON-friendly (UTC date string). */
export interface ListingRow {
  name: string
  path: string
  date: string
  size: number
  kind?: string
  description?: string
}

/** One table row per catalog entry, newest first, as `list` prints them. */
export function listingRows(entries: CatalogEntry[]): ListingRow[] {
  return entries.map((e) => ({
    name: e.name,
    path: e.path,
    date: e.date.toISOString(),
    size: e.size,
    kind: e.kind,
    description: e.description,
  }))
}

/** The human form of a listing, newest first: "date  size  name  description", or a line saying there is none. */
export function formatListing(rows: ListingRow[], location: string): string[] {
  if (rows.length === 0) return [`No backups in ${location}.`]
  return rows.map(
    (e) => `${e.date}  ${formatBytes(e.size).padStart(10)}  ${e.name}${e.description ? `  ${e.description}` : ''}`,
  )
}
