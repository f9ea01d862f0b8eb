// createBkArchive({prependLevel}): the prepended members (Roundup's staged database) compressed as a gzip member of
// their own at that level, ahead of the tree's member: a cheaper level for the database alone, the same archive.
import {execFileSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipMembers} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {extractArchive} from '../src/archive/index.js'
import {pigz} from '../src/archive/native.js'
import {createBkArchive, readManifest, verifyManifest} from '../src/manifest/index.js'
import {cleanupTemp, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)

describe('prepended members at a level of their own', () => {
  it.runIf(process.env.BK_ARCHIVE_ENGINE !== 'node')(
    'three gzip members: manifest, the prepended members at prependLevel, the tree at the default level',
    async () => {
      if (!(await pigz())) return
      const root = temp()
      const src = join(root, 'tracker')
      makeTree(src)
      const stage = join(root, 'stage')
      mkdirSync(stage)
      const db = Buffer.from('SQLite format 3\0'.padEnd(4096, 'page of rows ').repeat(300))
      writeFileSync(join(stage, 'db'), db)
      const file = join(root, 'bk.tar.gz')
      await createBkArchive({
        cwd: src,
        file,
        prefix: 'home',
        prepend: [
          {name: 'database', directory: true, mode: 0o700},
          {name: 'database/db', source: join(stage, 'db')},
        ],
        prependLevel: 1,
        meta: {
          plugin: {name: '@bkcli/core', version: '0'},
          application: 'test',
          kind: 'full',
          source: src,
          components: [{type: 'files', path: 'home', count: 0, bytes: 0}],
        },
      })
      const members = gzipMembers(readFileSync(file))
      expect(members.length).toBe(3)
      const [, head, tree] = members as [unknown, {xfl: number; data: Buffer}, {xfl: number; data: Buffer}]
      expect(head.xfl).toBe(4) // compressed at level 1
      expect(tree.xfl).toBe(0) // level 6
      // the head member: the database/ directory, database/db (its bytes), the home/ directory, nothing more
      const names: string[] = []
      let at = 0
      while (at < head.data.length) {
        const name = head.data
          .subarray(at, at + 100)
          .toString()
          .replace(/\0.*$/s, '')
        const size = Number.parseInt(
          head.data
            .subarray(at + 124, at + 136)
            .toString()
            .replace(/\0.*$/s, ''),
          8,
        )
        names.push(name)
        if (name === 'database/db') expect(head.data.subarray(at + 512, at + 512 + size).equals(db)).toBe(true)
        at += 512 + Math.ceil(size / 512) * 512
      }
      expect(names).toEqual(['database/', 'database/db', 'home/'])
      expect(at).toBe(head.data.length)
      // still one archive: the manifest verifies, GNU tar and bk extract it
      expect((await readManifest(file)).files.map((f) => f.path)).toContain('database/db')
      expect((await verifyManifest(file)).ok).toBe(true)
      expect(execFileSync('tar', ['tzf', file]).toString()).toContain('database/db\n')
      const out = join(root, 'out')
      await extractArchive({file, target: out})
      expect(readFileSync(join(out, 'database/db')).equals(db)).toBe(true)
    },
  )

  it.runIf(process.env.BK_ARCHIVE_ENGINE !== 'node')(
    'a prepended member that cannot be read: fails, and leaves nothing',
    async () => {
      if (!(await pigz())) return
      const root = temp()
      const src = join(root, 'tracker')
      makeTree(src)
      const out = join(root, 'out')
      mkdirSync(out)
      const file = join(out, 'bk.tar.gz')
      await expect(
        createBkArchive({
          cwd: src,
          file,
          prefix: 'home',
          prepend: [{name: 'database/db', source: join(root, 'missing')}],
          prependLevel: 1,
          meta: {
            plugin: {name: '@bkcli/core', version: '0'},
            application: 'test',
            kind: 'full',
            source: src,
            components: [],
          },
        }),
      ).rejects.toThrow(/missing/)
      expect(readdirSync(out)).toEqual([])
    },
  )
})
