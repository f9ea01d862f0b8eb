import {describe, expect, it} from 'vitest'
import {dayKey, isoWeekKey, monthKey, planRetention, retentionFlags, retentionFromFlags} from '../src/catalog/index.js'
import {BkError} from '../src/errors.js'

const entry = (iso: string) => ({name: iso, date: new Date(iso)})

// Unsorted on purpose: the plan must not depend on input order.
const backups = [
  '2026-02-15T12:00:00Z', // Sun, W07
  '2026-03-02T02:00:00Z', // Mon, W10 (UTC) — Sun Mar 1 21:00 in New York
  '2026-03-02T10:00:00Z', // Mon, W10 — the newest
  '2026-03-01T23:00:00Z', // Sun, W09
  '2026-02-28T12:00:00Z', // Sat, W09
  '2026-02-23T01:00:00Z', // Mon, W09 (UTC) — Sun Feb 22 20:00 in New York (W08)
  '2026-02-22T22:00:00Z', // Sun, W08
  '2026-01-31T12:00:00Z', // Sat, W05
  '2026-01-15T12:00:00Z', // Thu, W03
  '2025-12-31T23:30:00Z', // Wed, ISO week 2026-W01
  '2025-12-01T00:30:00Z', // Mon, 2025-W49 — Nov 30 in New York
].map(entry)

const names = (list: {name: string}[]) => list.map((e) => e.name)

describe('planRetention (GFS)', () => {
  it('keeps the newest of each of the last N days / weeks / months that have backups (UTC)', () => {
    const plan = planRetention(backups, {keepDaily: 3, keepWeekly: 3, keepMonthly: 3, clock: 'utc'})
    expect(names(plan.keep)).toEqual([
      '2026-03-02T10:00:00Z',
      '2026-03-01T23:00:00Z',
      '2026-02-28T12:00:00Z',
      '2026-02-22T22:00:00Z',
      '2026-01-31T12:00:00Z',
    ])
    expect(names(plan.remove)).toEqual([
      '2026-03-02T02:00:00Z',
      '2026-02-23T01:00:00Z',
      '2026-02-15T12:00:00Z',
      '2026-01-15T12:00:00Z',
      '2025-12-31T23:30:00Z',
      '2025-12-01T00:30:00Z',
    ])
    expect(plan.reasons.get('2026-03-02T10:00:00Z')).toBe('newest, daily 2026-03-02, weekly 2026-W10, monthly 2026-03')
    expect(plan.reasons.get('2026-03-01T23:00:00Z')).toBe('daily 2026-03-01, weekly 2026-W09')
    expect(plan.reasons.get('2026-02-28T12:00:00Z')).toBe('daily 2026-02-28, monthly 2026-02')
    expect(plan.reasons.get('2026-02-22T22:00:00Z')).toBe('weekly 2026-W08')
    expect(plan.reasons.get('2026-01-31T12:00:00Z')).toBe('monthly 2026-01')
    expect(plan.reasons.size).toBe(5)
  })

  it('uses local calendar days, weeks and months by default (here New York)', () => {
    const saved = process.env.TZ
    process.env.TZ = 'America/New_York'
    try {
      const plan = planRetention(backups, {keepDaily: 3, keepWeekly: 3, keepMonthly: 3})
      expect(names(plan.keep)).toEqual([
        '2026-03-02T10:00:00Z',
        '2026-03-02T02:00:00Z', // the last of Sunday Mar 1, local
        '2026-02-28T12:00:00Z',
        '2026-02-23T01:00:00Z', // the last of local week W08
        '2026-01-31T12:00:00Z',
      ])
      expect(plan.reasons.get('2026-03-02T02:00:00Z')).toBe('daily 2026-03-01, weekly 2026-W09')
      expect(plan.reasons.get('2026-02-23T01:00:00Z')).toBe('weekly 2026-W08')
    } finally {
      process.env.TZ = saved
    }
  })

  it('counts only periods that have backups', () => {
    const sparse = ['2026-01-10T09:00:00Z', '2026-01-05T09:00:00Z', '2026-01-01T09:00:00Z', '2025-11-20T09:00:00Z'].map(
      entry,
    )
    const plan = planRetention(sparse, {keepDaily: 2, keepMonthly: 2, clock: 'utc'})
    expect(names(plan.keep)).toEqual(['2026-01-10T09:00:00Z', '2026-01-05T09:00:00Z', '2025-11-20T09:00:00Z'])
  })

  it('keep N keeps the newest N; keepDays keeps what is younger than N × 24 h', () => {
    expect(names(planRetention(backups, {keep: 2}).keep)).toEqual(['2026-03-02T10:00:00Z', '2026-03-02T02:00:00Z'])
    const now = new Date('2026-03-02T12:00:00Z')
    const plan = planRetention(backups, {keepDays: 2}, now)
    // 2026-02-28T12:00:00Z is exactly 48 h old: no longer within 2 days
    expect(names(plan.keep)).toEqual(['2026-03-02T10:00:00Z', '2026-03-02T02:00:00Z', '2026-03-01T23:00:00Z'])
    expect(plan.reasons.get('2026-03-02T02:00:00Z')).toBe('within 2 days')
  })

  it('always keeps the newest, even when no rule would', () => {
    const plan = planRetention(backups, {keepDays: 1}, new Date('2027-01-01T00:00:00Z'))
    expect(names(plan.keep)).toEqual(['2026-03-02T10:00:00Z'])
    expect(plan.reasons.get('2026-03-02T10:00:00Z')).toBe('newest')
    expect(plan.remove).toHaveLength(backups.length - 1)
  })

  it('is a union: adding a rule never removes anything more', () => {
    const a = planRetention(backups, {keepDaily: 2, clock: 'utc'})
    const b = planRetention(backups, {keepDaily: 2, keepWeekly: 2, keep: 4, clock: 'utc'})
    for (const kept of names(a.keep)) expect(names(b.keep)).toContain(kept)
  })

  it('refuses an empty policy and bad numbers', () => {
    expect(() => planRetention(backups, {})).toThrow(BkError)
    expect(() => planRetention(backups, {})).toThrow(/no retention rule given: pass --keep/)
    expect(() => planRetention(backups, {keep: 0})).toThrow(/no retention rule/)
    expect(() => planRetention(backups, {keep: -1})).toThrow(/--keep must be a whole number/)
    expect(() => planRetention(backups, {keepWeekly: 1.5})).toThrow(/--keep-weekly must be a whole number/)
  })

  it('handles an empty location', () => {
    expect(planRetention([], {keep: 3})).toEqual({keep: [], remove: [], reasons: new Map()})
  })
})

describe('period keys', () => {
  it('ISO weeks across year ends', () => {
    expect(isoWeekKey(new Date('2025-12-29T12:00:00Z'), 'utc')).toBe('2026-W01') // Monday of week 1
    expect(isoWeekKey(new Date('2025-12-28T12:00:00Z'), 'utc')).toBe('2025-W52')
    expect(isoWeekKey(new Date('2026-12-31T12:00:00Z'), 'utc')).toBe('2026-W53')
    expect(isoWeekKey(new Date('2027-01-03T12:00:00Z'), 'utc')).toBe('2026-W53') // Sunday
    expect(isoWeekKey(new Date('2027-01-04T00:00:00Z'), 'utc')).toBe('2027-W01')
    expect(isoWeekKey(new Date('2024-12-30T00:00:00Z'), 'utc')).toBe('2025-W01')
  })

  it('days and months in the chosen clock', () => {
    const saved = process.env.TZ
    process.env.TZ = 'Asia/Tokyo'
    try {
      const d = new Date('2026-01-31T20:00:00Z') // Feb 1, 05:00 in Tokyo
      expect(dayKey(d, 'utc')).toBe('2026-01-31')
      expect(dayKey(d, 'local')).toBe('2026-02-01')
      expect(monthKey(d, 'utc')).toBe('2026-01')
      expect(monthKey(d, 'local')).toBe('2026-02')
    } finally {
      process.env.TZ = saved
    }
  })
})

describe('retention flags', () => {
  it('map to a policy', () => {
    expect(Object.keys(retentionFlags)).toEqual(['keep', 'keep-days', 'keep-daily', 'keep-weekly', 'keep-monthly'])
    expect(retentionFromFlags({keep: 3, 'keep-daily': 7, 'keep-monthly': 6})).toEqual({
      keep: 3,
      keepDays: undefined,
      keepDaily: 7,
      keepWeekly: undefined,
      keepMonthly: 6,
    })
  })
})
