import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {provisionNaming} from '../src/naming.js'
import {parseKeepPer, planAegirPrune} from '../src/prune.js'

const DAY = 86_400_000
const now = new Date(2026, 10, 21, 12, 0, 0)
/** One backup every 12 hours for 40 days. */
const entries = Array.from({length: 80}, (_, i) => {
  const date = new Date(now.getTime() - i * 12 * 3_600_000 - 60_000)
  return {name: provisionNaming('example.com').format(date), date}
})

describe('keep-per rules (hosting_backup_gc)', () => {
  it('parses ages and intervals, and rejects nonsense', () => {
    expect(parseKeepPer('7d:1d')).toMatchObject({olderThanMs: 7 * DAY, perMs: DAY})
    expect(parseKeepPer('1y:4w')).toMatchObject({olderThanMs: 365 * DAY, perMs: 28 * DAY})
    expect(() => parseKeepPer('7 days')).toThrow(/--keep-per '7 days'/)
    expect(() => parseKeepPer('7d:0d')).toThrow(/more than zero/)
  })

  it('keeps everything recent, one per day after 7 days, one per week after 28 days', () => {
    const plan = planAegirPrune(entries, {}, [parseKeepPer('7d:1d'), parseKeepPer('28d:7d')], now)
    const age = (e: {date: Date}) => (now.getTime() - e.date.getTime()) / DAY
    // the last 7 days untouched: 14 backups
    expect(plan.keep.filter((e) => age(e) <= 7)).toHaveLength(14)
    // between 7 and 28 days: one per day bucket
    const mid = plan.keep.filter((e) => age(e) > 7 && age(e) <= 28)
    expect(new Set(mid.map((e) => Math.floor(age(e)))).size).toBe(mid.length)
    // older than 28 days: one per 7-day bucket
    const old = plan.keep.filter((e) => age(e) > 28)
    expect(new Set(old.map((e) => Math.floor(age(e) / 7))).size).toBe(old.length)
    expect(old.length).toBeLessThanOrEqual(3)
    expect(plan.keep.length + plan.remove.length).toBe(80)
    expect(plan.reasons.get(plan.remove[0]!.name)).toMatch(/removed by --keep-per/)
  })

  it('combines with core retention flags and always keeps the newest', () => {
    const plan = planAegirPrune(entries, {keep: 3}, [], now)
    expect(plan.keep.map((e) => e.name)).toEqual(entries.slice(0, 3).map((e) => e.name))
    const onlyOld = planAegirPrune(entries.slice(40), {}, [parseKeepPer('1d:100d')], now)
    expect(onlyOld.keep.map((e) => e.name)).toEqual([entries[40]!.name])
    expect(() => planAegirPrune(entries, {}, [], now)).toThrow(/give a retention rule/)
  })
})

describe('bk aegir prune / purge', () => {
  it('dry-run changes nothing; purge removes tarballs with their sidecars, other sites untouched', async () => {
    const location = tempDir()
    const names = entries.slice(0, 6).map((e) => e.name)
    for (const n of names) writeFileSync(join(location, n), 'x')
    writeFileSync(join(location, `${names[5]}.bk.json`), '{}')
    const other = provisionNaming('other.org').format(entries[50]!.date)
    writeFileSync(join(location, other), 'x')

    const dry = await runBk([
      'aegir',
      'prune',
      'example.com',
      '--location',
      location,
      '--keep',
      '2',
      '--dry-run',
      '--json',
    ])
    expect(dry.exitCode).toBe(0)
    const plan = dry.json<{kind: string; plan: {steps: {op: string}[]}}>()
    expect(plan.kind).toBe('plan')
    expect(plan.plan.steps.filter((s) => s.op === 'remove')).toHaveLength(4)
    expect(readdirSync(location)).toHaveLength(8)

    const noTty = await runBk(['aegir', 'purge', 'example.com', '--location', location, '--keep', '2'])
    expect(noTty.exitCode).not.toBe(0)
    expect(readdirSync(location)).toHaveLength(8)

    const run = await runBk(['aegir', 'purge', 'example.com', '--location', location, '--keep', '2', '--yes', '--json'])
    expect(run.exitCode).toBe(0)
    expect(run.json<{removed: unknown[]; kept: unknown[]}>().removed).toHaveLength(4)
    expect(readdirSync(location).sort()).toEqual([...names.slice(0, 2), other].sort())
    expect(existsSync(join(location, `${names[5]}.bk.json`))).toBe(false)
  })
})
