// A followed folder's scan copies the changed files several at once; its log lists them in the walk's order all the
// same (the order a one-at-a-time scan wrote), each with the sha256 of its content, its object holding that content.
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {FilesFollower, objectPath, readFilesLogs} from '../src/follow/sqlite/files.js'
import {compareNames} from '../src/fs/walk.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('a scan of a followed folder', () => {
  it('logs the files in the walk order, each content shipped whole, one log per scan', async () => {
    const dir = tempDir()
    const folder = join(dir, 'att')
    const bodies = new Map<string, Buffer>()
    // sizes that end copies out of order: large ones first in name order, small ones after them
    for (let i = 0; i < 40; i++) {
      const path = `${i % 3 === 0 ? 'x' : 'a'}/${String(i).padStart(2, '0')}.bin`
      bodies.set(path, randomBytes(i < 10 ? 600_000 - i * 50_000 : 10 + i))
    }
    bodies.set('top.txt', Buffer.from('top\n'))
    bodies.set('same-as-01.bin', bodies.get('a/01.bin')!)
    for (const [path, body] of bodies) {
      mkdirSync(join(folder, path, '..'), {recursive: true})
      writeFileSync(join(folder, path), body)
    }
    const location = join(dir, 'follow')
    const follower = new FilesFollower(location, [{name: 'att', dir: folder}])
    await follower.start()
    await follower.scan()
    // walk order: each folder's names in byte order, a folder's files where its name sorts
    const order = [...bodies.keys()].sort((a, b) => {
      const pa = a.split('/')
      const pb = b.split('/')
      for (let i = 0; ; i++) {
        if (pa[i] !== pb[i]) return compareNames(pa[i] ?? '', pb[i] ?? '')
      }
    })
    const logs = await readFilesLogs(location, 'att')
    expect(logs.length).toBe(1)
    expect(logs[0]!.entries.map((e) => e.path)).toEqual(order)
    for (const e of logs[0]!.entries) {
      expect([e.path, e.sha256, e.bytes]).toEqual([e.path, sha(bodies.get(e.path)!), bodies.get(e.path)!.length])
      expect(sha(readFileSync(objectPath(location, 'att', e.sha256!)))).toBe(e.sha256)
    }
    // no temporary copy left; one object per content
    const objects = readdirSync(join(location, 'files', 'att', 'objects'))
    expect(objects.sort()).toEqual([...new Set([...bodies.values()].map(sha))].sort())
    // a second scan with nothing changed ships nothing
    expect(await follower.scan()).toEqual([])
  })

  it('copies a file that grows during the copy as a whole prefix of it, its object holding what its sha256 names', async () => {
    const dir = tempDir()
    const folder = join(dir, 'att')
    mkdirSync(folder)
    const file = join(folder, 'growing.log')
    const line = (i: number) => `${String(i).padStart(9, '0')} ${'z'.repeat(500)}\n`
    // 64 MiB to start with (a copy long enough to grow under), then another process appends line after line
    const start = 120_000
    writeFileSync(file, Array.from({length: start}, (_, i) => line(i)).join(''))
    const stop = join(dir, 'stop')
    const writer = spawn(process.execPath, [
      '-e',
      `const fs = require('node:fs')
       const fd = fs.openSync(${JSON.stringify(file)}, 'a')
       const line = ${line.toString()}
       let i = ${start}
       while (!fs.existsSync(${JSON.stringify(stop)})) for (let n = 0; n < 200; n++) fs.writeSync(fd, line(i++))
       fs.closeSync(fd)`,
    ])
    const exited = new Promise((resolve) => writer.on('exit', resolve))
    try {
      const location = join(dir, 'follow')
      const follower = new FilesFollower(location, [{name: 'att', dir: folder}])
      await follower.start()
      for (let scan = 0; scan < 3; scan++) await follower.scan()
    } finally {
      writeFileSync(stop, '')
      await exited
    }
    expect(existsSync(stop)).toBe(true)
    const final = readFileSync(file)
    const logs = await readFilesLogs(join(dir, 'follow'), 'att')
    expect(logs.length).toBeGreaterThan(0)
    for (const log of logs)
      for (const e of log.entries) {
        const object = readFileSync(objectPath(join(dir, 'follow'), 'att', e.sha256!))
        // the object is what its name and the log say, and a prefix of the file (the copy of what it held then)
        expect([sha(object), object.length]).toEqual([e.sha256, e.bytes])
        expect(object.length).toBeGreaterThanOrEqual(start * line(0).length)
        expect(object.equals(final.subarray(0, object.length))).toBe(true)
      }
    expect(statSync(file).size).toBe(final.length)
    expect(readdirSync(join(dir, 'follow', 'files', 'att', 'objects')).filter((n) => n.startsWith('.'))).toEqual([])
  })
})
