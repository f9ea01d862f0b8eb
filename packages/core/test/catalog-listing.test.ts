import {describe, expect, it} from 'vitest'
import type {CatalogEntry} from '../src/catalog/catalog.js'
import {formatListing, listingRows} from '../src/catalog/listing.js'

describe('listing', () => {
  it('renders entries newest first as given, with UTC dates, sizes and descriptions', () => {
    const entries = [
      {
        name: 'b.tar.gz',
        path: '/x/b.tar.gz',
        date: new Date('2026-01-02T03:04:05Z'),
        size: 2048,
        kind: 'full',
        description: 'before upgrade',
      },
      {name: 'a.tar.gz', path: '/x/a.tar.gz', date: new Date('2026-01-01T00:00:00Z'), size: 10},
    ] as CatalogEntry[]
    const rows = listingRows(entries)
    expect(rows[0]).toEqual({
      name: 'b.tar.gz',
      path: '/x/b.tar.gz',
      date: '2026-01-02T03:04:05.000Z',
      size: 2048,
      kind: 'full',
      description: 'before upgrade',
    })
    expect(formatListing(rows, '/x')).toEqual([
      '2026-01-02T03:04:05.000Z     2.0 KiB  b.tar.gz  before upgrade',
      '2026-01-01T00:00:00.000Z        10 B  a.tar.gz',
    ])
    expect(formatListing([], '/x')).toEqual(['No backups in /x.'])
  })
})
