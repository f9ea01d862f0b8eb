// createArchive/createBkArchive({prefix, prepend: [{source}]}): a tree archived where it lies under a directory
// name, after members streamed from files staged elsewhere (Roundup's database snapshot + home, without a copy).
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {createBkArchive, MANIFEST_NAME, readManifest, verifyManifest} from '../src/manifest/index.js'
import {cleanupTemp, rejection, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)
afterEach(() => {
  delete process.env.BK_ARCHIVE_ENGINE
})

const meta = (source: string) => ({
  plugin: {name: '@bkcli/core', version: '0'},
  application: 'test',
  kind: 'full',
  source,
  components: [{type: 'files', path: 'home', count: 0, bytes: 0}],
})

describe('archiving a tree under a prefix after streamed prepended files', () => {
  for (const engine of ['GNU tar', 'node-tar'])
    it(`${engine}: members in order, bytes identical, manifest exact, readable by GNU tar`, async () => {
      if (engine === 'node-tar') process.env.BK_ARCHIVE_ENGINE = 'node'
      const root = temp()
      const src = join(root, 'tracker')
      makeTree(src)
      chmodSync(src, 0o2751)
      writeFileSync(join(src, MANIFEST_NAME), '{"not": "ours"}\n') // archived as home/…, shadows nothing
      const stage = join(root, 'stage')
      mkdirSync(stage)
      const db = randomBytes(2 * 1024 * 1024 + 333)
      writeFileSync(join(stage, 'db'), db, {mode: 0o640})
      writeFileSync(join(stage, 'empty'), '')
      const file = join(root, 'bk.tar.gz')
      const seen: string[] = []
      const r = await createBkArchive({
        cwd: src,
        file,
        prefix: 'home',
        filter: (p) => {
          seen.push(p)
          return p !== 'conf/secret.env'
        },
        prepend: [
          {name: 'database', directory: true, mode: 0o700},
          {name: 'database/db', source: join(stage, 'db')},
          {name: 'database/empty', source: join(stage, 'empty')},
        ],
        meta: meta(src),
        complete: (m) => {
          const home = m.files.filter((f) => f.path.startsWith('home/'))
          Object.assign(m.components[0] as object, {count: home.length})
        },
      })
      const names = execFileSync('tar', ['-tzf', file]).toString().trim().split('\n')
      expect(names.slice(0, 5)).toEqual([MANIFEST_NAME, 'database/', 'database/db', 'database/empty', 'home/'])
      expect(names.slice(5).every((n) => n.startsWith('home/'))).toBe(true)
      expect(names).toContain(`home/${MANIFEST_NAME}`)
      expect(names).not.toContain('home/conf/secret.env')
      expect(seen).toContain('conf/app.ini') // the filter sees paths relative to cwd
      expect(r.entries).toBe(names.length)

      // the manifest lists exactly the archived bytes, the prepended files and the home's
      const db256 = r.manifest.files.find((f) => f.path === 'database/db')
      expect(db256?.size).toBe(db.length)
      expect(r.manifest.files.map((f) => f.path)).toContain('home/files/picture.bin')
      expect((r.manifest.components[0] as {count: number}).count).toBe(
        r.manifest.files.filter((f) => f.path.startsWith('home/')).length,
      )
      expect(await readManifest(file)).toEqual(r.manifest)
      expect(await verifyManifest(file)).toMatchObject({ok: true, missing: [], changed: [], extra: []})

      // plain GNU tar and bk extract the same tree: symlink texts unchanged, hard links kept, modes kept
      for (const how of ['gnu', 'bk']) {
        const out = join(root, how)
        if (how === 'gnu') {
          mkdirSync(out)
          execFileSync('tar', ['-xzf', file, '-C', out])
        } else await extractArchive({file, target: out})
        expect(readFileSync(join(out, 'database/db')).equals(db)).toBe(true)
        expect(statSync(join(out, 'database/db')).mode & 0o777).toBe(0o640)
        expect(statSync(join(out, 'database')).mode & 0o777).toBe(0o700)
        expect(statSync(join(out, 'home')).mode & 0o7777).toBe(0o2751)
        expect(snapshot(join(out, 'home'), {skip: ['conf/secret.env']})).toEqual(
          snapshot(src, {skip: ['conf/secret.env']}),
        )
        expect(statSync(join(out, 'home/app-hardlink.ini')).ino).toBe(statSync(join(out, 'home/conf/app.ini')).ino)
      }
    })

  it('refuses a prefix that is not plain name segments, or with dotSlash', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(src)
    for (const prefix of ['../x', '/abs', 'a,b', 'a/', '', '.'])
      expect((await rejection(createArchive({cwd: src, file: join(root, 'a.tar'), prefix}))).message).toMatch(/prefix/)
    expect(
      (await rejection(createArchive({cwd: src, file: join(root, 'b.tar'), prefix: 'home', dotSlash: true}))).message,
    ).toMatch(/prefix/)
  })
})
