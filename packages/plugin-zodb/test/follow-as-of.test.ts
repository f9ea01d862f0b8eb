// truncateAsOf: a FileStorage cut at the last transaction committed at or before a time is exactly the prefix
// the file had when that transaction was the newest (FileStorage is valid at every transaction boundary).
import {copyFileSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {tidToDate} from '../src/filestorage.js'
import {parseAsOf, truncateAsOf} from '../src/follow/as-of.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

describe('truncateAsOf', () => {
  it('cuts a Data.fs to the last transaction at or before the time, for 20 random moments', async () => {
    const work = tempDir('bk-asof-')
    const datafs = join(work, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    // the writer's own log: each transaction's commit time and where the file ended after it
    const log: {time: Date; end: number}[] = []
    for (let i = 0; i < 60; i++) {
      db.commit({oids: [0, 1 + (i % 9)], size: 50 + i})
      const data = readFileSync(datafs)
      const tlen = Number(data.readBigUInt64BE(data.length - 8))
      log.push({time: tidToDate(data.subarray(data.length - 8 - tlen, data.length - tlen)), end: data.length})
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 3))
    }
    const whole = readFileSync(datafs)
    const first = log[0]!.time.getTime()
    const last = log.at(-1)!.time.getTime()
    const moments = [
      new Date(first - 1000),
      new Date(last + 1000),
      log[10]!.time,
      ...Array.from({length: 17}, () => new Date(first - 5 + Math.floor(Math.random() * (last - first + 10)))),
    ]
    for (const moment of moments) {
      const copy = join(work, 'copy.fs')
      copyFileSync(datafs, copy)
      const r = await truncateAsOf(copy, moment)
      const kept = log.filter((t) => t.time.getTime() <= moment.getTime())
      const end = kept.at(-1)?.end ?? 4
      expect(r.end, moment.toISOString()).toBe(end)
      expect(r.kept).toBe(kept.length)
      expect(r.cut).toBe(log.length - kept.length)
      expect(readFileSync(copy).equals(whole.subarray(0, end))).toBe(true)
      expect(r.lastTransaction).toBe(kept.at(-1)?.time.toISOString())
    }
  })

  it('parses ISO times (UTC when no zone is given) and repozo stamps', () => {
    expect(parseAsOf('2026-01-02T10:30:00Z').toISOString()).toBe('2026-01-02T10:30:00.000Z')
    expect(parseAsOf('2026-01-02T10:30:00').toISOString()).toBe('2026-01-02T10:30:00.000Z')
    expect(parseAsOf('2026-01-02T11:30:00+01:00').toISOString()).toBe('2026-01-02T10:30:00.000Z')
    expect(parseAsOf('2026-01-02-10-30-05').toISOString()).toBe('2026-01-02T10:30:05.000Z')
    expect(() => parseAsOf('yesterday')).toThrow(/invalid time/)
  })
})
