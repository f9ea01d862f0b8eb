// bk roundup backup compresses the database snapshot at gzip -1 in a member of its own (3x less CPU than -6 for a
// few per cent of its size); the home's files follow in the next member at the default level.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {type GzipMember, gzipMembers, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {backupTracker} from '../src/backup.js'
import {fixtureTree} from './helpers.js'

const hasPigz = (() => {
  try {
    execFileSync('pigz', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()

describe('bk roundup backup: the database snapshot in a member of its own', () => {
  it.runIf(hasPigz)('its own gzip member at level 1, holding database/ then home/ and nothing else', async () => {
    const home = fixtureTree('sqlite-home')
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    const members = gzipMembers(readFileSync(archive))
    expect(members.length).toBe(3)
    const [, db, tree] = members as [GzipMember, GzipMember, GzipMember]
    expect(db.xfl).toBe(4)
    expect(tree.xfl).not.toBe(4)
    const names: string[] = []
    let at = 0
    while (at < db.data.length) {
      names.push(
        db.data
          .subarray(at, at + 100)
          .toString()
          .replace(/\0.*$/s, ''),
      )
      const size = Number.parseInt(
        db.data
          .subarray(at + 124, at + 136)
          .toString()
          .replace(/\0.*$/s, ''),
        8,
      )
      at += 512 + Math.ceil(size / 512) * 512
    }
    expect(names[0]).toBe('database/')
    expect(names).toContain('database/db')
    expect(names.at(-1)).toBe('home/')
    expect(names.every((n) => n.startsWith('database/') || n === 'home/')).toBe(true)
    expect(
      readFileSync(join(home, 'db', 'db'))
        .subarray(0, 16)
        .toString(),
    ).toBe('SQLite format 3\0')
  })
})
