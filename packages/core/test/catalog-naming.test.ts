import {readdirSync, readFileSync} from 'node:fs'
import {fixturePath} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {datedNaming, isoWeekday, rollingNaming, snapshotNaming} from '../src/catalog/index.js'

// Local-time namings are tested in a zone with DST and a non-zero offset, so a UTC/local mix-up shows.
process.env.TZ = 'Europe/Berlin'

const iotstack = datedNaming({prefix: 'backup_', format: '%Y-%m-%d_%H%M', suffix: '.tar.gz', clock: 'local'})
const provision = datedNaming({prefix: 'example.com-', format: '%Y%m%d.%H%M%S', suffix: '.tar.gz', clock: 'local'})
const repozo = datedNaming({
  format: '%Y-%m-%d-%H-%M-%S',
  suffix: ['.fs', '.fsz', '.deltafs', '.deltafsz'],
  clock: 'utc',
})
const rolling = rollingNaming({prefix: 'backup_', suffix: '.tar.gz'})
const snapshot = snapshotNaming({prefix: 'hotcopy-'})

/** Dates across DST changes, month/year ends and leap days. */
const dates = [
  new Date('2024-02-29T23:59:59Z'),
  new Date('2024-03-31T00:30:00Z'), // 01:30 CET, just before the spring change
  new Date('2024-03-31T01:30:00Z'), // 03:30 CEST
  new Date('2024-10-27T00:30:00Z'), // 02:30 CEST (first pass of the repeated hour)
  new Date('2024-12-31T23:00:00Z'), // 2025-01-01 00:00 local
  new Date('2026-11-21T22:19:42Z'),
]

const truncate = (date: Date, unit: number) => new Date(Math.floor(date.getTime() / unit) * unit)

describe('dated namings', () => {
  it('format the original tools’ names', () => {
    const at = new Date(2026, 10, 21, 22, 19, 5) // local time, as `date` prints it
    expect(iotstack.format(at)).toBe('backup_2026-11-21_2219.tar.gz')
    expect(provision.format(at)).toBe('example.com-20261121.221905.tar.gz')
    expect(repozo.format(new Date('2026-11-21T22:19:13Z'))).toBe('2026-11-21-22-19-13.fs')
    expect(snapshot.format(new Date('2026-11-21T22:19:13Z'))).toBe('hotcopy-20261121T221913Z')
  })

  it('add _1, _2 before the suffix on collision, and read them back', () => {
    const at = new Date(2026, 10, 21, 22, 19, 5)
    expect(iotstack.format(at, 1)).toBe('backup_2026-11-21_2219_1.tar.gz')
    expect(provision.format(at, 2)).toBe('example.com-20261121.221905_2.tar.gz')
    expect(provision.parse('example.com-20261121.221905_2.tar.gz')).toEqual({date: at, seq: 2, suffix: '.tar.gz'})
  })

  it('round-trip every date (to each format’s resolution)', () => {
    for (const date of dates) {
      expect(iotstack.parse(iotstack.format(date))?.date).toEqual(truncate(date, 60_000))
      expect(provision.parse(provision.format(date))?.date).toEqual(truncate(date, 1000))
      expect(repozo.parse(repozo.format(date))?.date).toEqual(truncate(date, 1000))
      expect(snapshot.parse(snapshot.format(date))?.date).toEqual(truncate(date, 1000))
    }
  })

  it('local namings use local time, UTC namings UTC', () => {
    const date = new Date('2026-07-01T10:00:00Z') // 12:00 in Berlin (CEST)
    expect(iotstack.format(date)).toBe('backup_2026-07-01_1200.tar.gz')
    expect(repozo.format(date)).toBe('2026-07-01-10-00-00.fs')
    expect(iotstack.parse('backup_2026-07-01_1200.tar.gz')?.date?.toISOString()).toBe('2026-07-01T10:00:00.000Z')
    expect(repozo.parse('2026-07-01-10-00-00.fs')?.date?.toISOString()).toBe('2026-07-01T10:00:00.000Z')
  })

  it('recognise every suffix of a naming, the longest first', () => {
    expect(repozo.parse('2026-11-21-22-19-16.deltafsz')).toMatchObject({suffix: '.deltafsz', seq: 0})
    expect(repozo.parse('2026-11-21-22-19-16.fsz')).toMatchObject({suffix: '.fsz'})
    expect(repozo.parse('2026-11-21-22-19-16.dat')).toBeUndefined()
    expect(repozo.parse('2026-11-21-22-19-16.index')).toBeUndefined()
  })

  it('reject names that are not theirs or not real dates', () => {
    for (const name of [
      'backup_2026-11-21_2219.tar',
      'backup_2026-11-21_219.tar.gz',
      'backup_2026-02-30_1200.tar.gz',
      'backup_2026-11-21_2460.tar.gz',
      'backup_2026-13-01_0000.tar.gz',
      'xbackup_2026-11-21_2219.tar.gz',
      'backup_2026-11-21_2219_.tar.gz',
      '.backup_2026-11-21_2219.tar.gz.bk-partial-12',
    ]) {
      expect(iotstack.parse(name), name).toBeUndefined()
    }
    expect(repozo.parse('2026-11-21-25-00-00.fs')).toBeUndefined()
  })

  it('read the names in the IOTstack, Aegir and ZODB fixtures', () => {
    expect(iotstack.parse('backup_2026-11-21_2219.tar.gz')?.date).toEqual(new Date(2026, 10, 21, 22, 19))
    const [aegirName] = readdirSync(fixturePath('aegir', 'backups'))
    expect(aegirName).toBeDefined()
    const parsed = provision.parse(aegirName as string)
    expect(parsed?.date).toBeInstanceOf(Date)
    expect(provision.format(parsed?.date as Date)).toBe(aegirName)
    const points = JSON.parse(readFileSync(fixturePath('zodb', 'points.json'), 'utf8')) as {stamps: {plain: string}}[]
    for (const point of points) {
      const name = `${point.stamps.plain}.fs`
      expect(repozo.format(repozo.parse(name)?.date as Date)).toBe(name)
    }
  })
})

describe('rollingNaming', () => {
  it('names by ISO weekday in local time, like `date +%u` (Monday = 1 … Sunday = 7)', () => {
    expect(rolling.format(new Date(2026, 10, 21, 22, 19))).toBe('backup_6.tar.gz') // a Saturday, as in the fixture
    expect(rolling.format(new Date(2026, 10, 22, 23, 59))).toBe('backup_7.tar.gz')
    expect(rolling.format(new Date(2026, 10, 23, 0, 0))).toBe('backup_1.tar.gz')
    // 23:30 UTC on a Sunday is already Monday in Berlin
    expect(rolling.format(new Date('2026-11-22T23:30:00Z'))).toBe('backup_1.tar.gz')
    expect(isoWeekday(new Date('2026-11-22T23:30:00Z'), 'utc')).toBe(7)
  })

  it('parses slots 1–7 only, and reuses names', () => {
    expect(rolling.reuses).toBe(true)
    expect(rolling.parse('backup_6.tar.gz')).toEqual({seq: 0, suffix: '.tar.gz', slot: 6})
    for (const name of ['backup_0.tar.gz', 'backup_8.tar.gz', 'backup_06.tar.gz', 'backup_2026-11-21_2219.tar.gz']) {
      expect(rolling.parse(name), name).toBeUndefined()
    }
  })
})
