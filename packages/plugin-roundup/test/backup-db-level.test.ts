// bk roundup backup compresses the database snapshot at gzip -1 in a member of its own (3x less CPU than -6 for a
// few per cent of its size); the home's files follow in the next member at the default level.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {inflateRawSync} from 'node:zlib'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {backupTracker} from '../src/backup.js'
import {fixtureTree} from './helpers.js'

type Member = {xfl: number; data: Buffer}

/** Each gzip member of a file: its XFL byte (4: fastest level) and the bytes it decodes to. */
function gzipMembers(file: Buffer): {xfl: number; data: Buffer}[] {
  const members: {xfl: number; data: Buffer}[] = []
  let at = 0
  while (at < file.length) {
    expect([file[at], file[at + 1], file[at + 2]]).toEqual([0x1f, 0x8b, 8])
    const flags = file[at + 3] as number
    let p = at + 10
    if (flags & 4) p += 2 + file.readUInt16LE(p)
    if (flags & 8) p = file.indexOf(0, p) + 1
    if (flags & 16) p = file.indexOf(0, p) + 1
    if (flags & 2) p += 2
    const {buffer, engine} = inflateRawSync(file.subarray(p), {info: true}) as unknown as {
      buffer: Buffer
      engine: {bytesWritten: number}
    }
    members.push({xfl: file[at + 8] as number, data: buffer})
    at = p + engine.bytesWritten + 8
  }
  return members
}

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
    const [, db, tree] = members as [Member, Member, Member]
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
