// A followed folder's scan copies the changed files several at once; its log lists them in the walk's order all the
// same (the order a one-at-a-time scan wrote), each with the sha256 of its content, its object holding that content.
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
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
})
