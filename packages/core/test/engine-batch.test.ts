// copyTree with many files in flight and the adaptive SQLite backup step: contents asserted, never timings.
import {chmodSync, linkSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {sqliteBackup, sqliteIntegrityCheck, sqliteTableCounts} from '../src/db/index.js'
import {copyTree, walk} from '../src/fs/index.js'
import {cleanupTemp, rejection, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

/** 600 files over nested folders, hard-link groups spread far apart in walk order, symlinks, odd modes. */
function makeMany(root: string): void {
  for (let i = 0; i < 600; i++) {
    const sub = join(root, `d${i % 7}`, `e${i % 5}`)
    mkdirSync(sub, {recursive: true})
    const file = join(sub, `f${i}`)
    writeFileSync(file, `${i} `.repeat((i * 37) % 3000))
    if (i % 11 === 0) chmodSync(file, 0o600)
    if (i % 13 === 0) chmodSync(file, 0o755)
  }
  for (let i = 0; i < 600; i++) {
    const file = join(root, `d${i % 7}`, `e${i % 5}`, `f${i}`)
    if (i % 50 === 0) linkSync(file, join(root, `d${(i + 3) % 7}`, `hard${i}`))
    if (i % 60 === 0) symlinkSync(`e${i % 5}/f${i}`, join(root, `d${i % 7}`, `sym${i}`))
  }
  chmodSync(join(root, 'd3'), 0o750)
}

describe('copyTree with many files in flight', () => {
  it('copies every byte, mode, mtime and link like the tree it copies', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeMany(src)
    const dest = join(dir, 'dest')
    let last = 0
    const result = await copyTree(src, dest, {onProgress: (b) => (last = b)})
    expect(snapshot(dest)).toEqual(snapshot(src))
    for (let i = 0; i < 600; i += 50)
      expect(statSync(join(dest, `d${(i + 3) % 7}`, `hard${i}`)).ino).toBe(
        statSync(join(dest, `d${i % 7}`, `e${i % 5}`, `f${i}`)).ino,
      )
    expect(result.files).toBe(612)
    expect(result.linked).toBe(12)
    expect(result.symlinks).toBe(10)
    expect(last).toBe(result.bytes)
    // a second copy linking unchanged files from the first
    const again = await copyTree(src, join(dir, 'again'), {hardlinkFrom: dest})
    expect(snapshot(join(dir, 'again'))).toEqual(snapshot(src))
    expect(again.linked).toBe(612)
  })

  it('removes the whole stage when one file of many fails (a name too long for the stage path)', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeMany(src)
    // a file whose path fits under src but not under the longer stage name beside dest (ENAMETOOLONG)
    let deep = join(src, 'd1')
    while (deep.length < 4000) deep = join(deep, 'n'.repeat(Math.min(200, 4000 - deep.length)))
    mkdirSync(deep, {recursive: true})
    const name = 'z'.repeat(4090 - deep.length - 1)
    writeFileSync(join(deep, name), 'too deep for the stage\n')
    const error = await rejection(copyTree(src, join(dir, 'dest')))
    expect(error.message).toMatch(/copying .* failed: .*ENAMETOOLONG/)
    expect(readdirSync(dir)).toEqual(['src'])
  })

  it('walks in the same order however many stats are in flight', async () => {
    const dir = temp()
    makeMany(dir)
    const paths: string[] = []
    for await (const e of walk(dir)) paths.push(e.path)
    const sorted: string[] = []
    const visit = (rel: string) => {
      const names = readdirSync(join(dir, rel)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      for (const name of names) {
        const p = rel ? `${rel}/${name}` : name
        sorted.push(p)
        if (statSync(join(dir, p), {throwIfNoEntry: false})?.isDirectory() && !p.includes('sym')) visit(p)
      }
    }
    visit('')
    expect(paths).toEqual(sorted)
  })
})

describe('sqliteBackup with adaptive steps (rollback journal)', () => {
  it('copies a database of many pages exactly, reporting progress up to the total', async () => {
    const dir = temp()
    const src = join(dir, 'big.db')
    const db = new Database(src)
    db.pragma('page_size = 1024')
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 20000; i++) ins.run(`row ${i} ${'x'.repeat(200)}`)
    })()
    db.close()
    const seen: number[] = []
    const result = await sqliteBackup(src, join(dir, 'copy.db'), {onProgress: (p) => seen.push(p.pagesDone)})
    expect(result.sourceJournalMode).toBe('delete')
    expect(await sqliteIntegrityCheck(join(dir, 'copy.db'))).toEqual([])
    expect(await sqliteTableCounts(join(dir, 'copy.db'))).toEqual({t: 20000})
    expect(seen.at(-1)).toBe(result.pages)
    expect([...seen].sort((a, b) => a - b)).toEqual(seen)
    expect(result.pages).toBeGreaterThan(4000)
  })
})
