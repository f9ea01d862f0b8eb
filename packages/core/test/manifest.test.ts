import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {fixtureTestsRun} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {
  buildArchiveManifest,
  buildManifest,
  createBkArchive,
  MANIFEST_NAME,
  type Manifest,
  type ManifestMeta,
  readManifest,
  sidecarPath,
  verifyManifest,
  writeManifest,
  writeSidecar,
} from '../src/manifest/index.js'
import {isPlainRelativePath, manifestAjvOptions, manifestSchema} from '../src/manifest/schema.js'
import {cleanupTemp, fixture, rejection, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)

const meta = (source: string): ManifestMeta => ({
  plugin: {name: '@bkcli/plugin-trac', version: '0.1.0'},
  application: 'trac',
  kind: 'hotcopy',
  source,
  description: 'before upgrade',
  components: [
    {type: 'files', path: '.', count: 3, bytes: 10},
    {type: 'database', engine: 'sqlite', path: 'db/trac.db', format: 'sqlite', serverVersion: '3.40.1'},
  ],
  extra: {database_version: 45},
})

const sha = (data: string | Buffer) => execFileSync('sha256sum', {input: data}).toString().split(' ')[0] ?? ''

function smallTree(): string {
  const dir = join(temp(), 'artifact')
  mkdirSync(join(dir, 'db'), {recursive: true})
  mkdirSync(join(dir, 'empty'))
  writeFileSync(join(dir, 'VERSION'), 'Trac Environment Version 1\n')
  writeFileSync(join(dir, 'db/trac.db'), Buffer.alloc(70_000, 7))
  writeFileSync(join(dir, 'db/.hidden'), 'h')
  return dir
}

describe('buildManifest / writeManifest / readManifest', () => {
  it('lists every regular file with size and sha256, sorted, and round-trips through the file', async () => {
    const dir = smallTree()
    const m = await buildManifest(dir, meta(dir))
    expect(m.format).toBe(1)
    expect(m.tool.name).toBe('bk')
    expect(m.tool.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(m.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(m.files).toEqual([
      {path: 'VERSION', size: 27, sha256: sha('Trac Environment Version 1\n')},
      {path: 'db/.hidden', size: 1, sha256: sha('h')},
      {path: 'db/trac.db', size: 70_000, sha256: sha(Buffer.alloc(70_000, 7))},
    ])
    const file = await writeManifest(dir, m)
    expect(file).toBe(join(dir, MANIFEST_NAME))
    expect(await readManifest(dir)).toEqual(m)
    expect(await readManifest(file)).toEqual(m)
    // the manifest itself is never listed
    expect((await buildManifest(dir, meta(dir))).files.map((f) => f.path)).not.toContain(MANIFEST_NAME)
    expect((await verifyManifest(dir)).ok).toBe(true)
  })

  it('takes a hash the caller already has for a file of that size, and reads a file whose size differs', async () => {
    const dir = smallTree()
    const hashed = new Map([
      ['db/trac.db', {size: 70_000, sha256: 'a'.repeat(64)}],
      ['VERSION', {size: 5, sha256: 'b'.repeat(64)}],
    ])
    const m = await buildManifest(dir, meta(dir), {hashed})
    expect(m.files).toEqual([
      {path: 'VERSION', size: 27, sha256: sha('Trac Environment Version 1\n')},
      {path: 'db/.hidden', size: 1, sha256: sha('h')},
      {path: 'db/trac.db', size: 70_000, sha256: 'a'.repeat(64)},
    ])
  })

  it('keeps a given created time and tool', async () => {
    const dir = smallTree()
    const m = await buildManifest(dir, {
      ...meta(dir),
      created: '2026-01-02T03:04:05Z',
      tool: {name: 'bk', version: '9.9.9'},
    })
    expect(m.created).toBe('2026-01-02T03:04:05Z')
    expect(m.tool.version).toBe('9.9.9')
  })
})

describe('verifyManifest', () => {
  it('reports every missing, changed and extra file of a directory', async () => {
    const dir = smallTree()
    await writeManifest(dir, await buildManifest(dir, meta(dir)))
    rmSync(join(dir, 'VERSION'))
    const db = readFileSync(join(dir, 'db/trac.db'))
    db[100] = 8 // same size, other bytes
    writeFileSync(join(dir, 'db/trac.db'), db)
    writeFileSync(join(dir, 'db/.hidden'), 'hh') // other size
    writeFileSync(join(dir, 'empty/new.txt'), 'n')
    writeFileSync(join(dir, 'stray'), 's')
    const v = await verifyManifest(dir)
    expect(v).toMatchObject({
      ok: false,
      missing: ['VERSION'],
      changed: ['db/.hidden', 'db/trac.db'],
      extra: ['empty/new.txt', 'stray'],
      checked: 2,
    })
  })

  it('checks a bk archive in one streamed pass, and what it extracts to', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    writeFileSync(join(src, MANIFEST_NAME), '{"stale": true}') // an old manifest in the source is not archived
    const file = join(root, 'env.tar.gz')
    const r = await createBkArchive({cwd: src, file, meta: meta(src)})
    expect(r.bytes).toBe(statSync(file).size)
    expect(r.sha256).toBe(execFileSync('sha256sum', [file]).toString().split(' ')[0])
    // first member, readable by GNU tar (concatenated gzip members)
    const listed = execFileSync('tar', ['-tzf', file]).toString().trim().split('\n')
    expect(listed[0]).toBe(MANIFEST_NAME)
    expect(listed.filter((l) => l === MANIFEST_NAME)).toHaveLength(1)
    expect(r.entries).toBe(listed.length)
    expect(await readManifest(file)).toEqual(r.manifest)
    const expected = (await buildManifest(src, meta(src))).files
    expect(r.manifest.files.map((f) => f.path).sort()).toEqual(expected.map((f) => f.path).sort())
    for (const f of expected) expect(r.manifest.files.find((g) => g.path === f.path)).toEqual(f)

    const v = await verifyManifest(file)
    expect(v).toMatchObject({ok: true, missing: [], changed: [], extra: []})
    expect(v.checked).toBe(expected.length)

    const out = join(root, 'out')
    await extractArchive({file, target: out})
    expect((await verifyManifest(out)).ok).toBe(true)
    expect(snapshot(out, {skip: [MANIFEST_NAME]})).toEqual(snapshot(src, {skip: [MANIFEST_NAME]}))
  })

  it('never archives its own output or temp files written inside the source', async () => {
    const src = smallTree()
    const file = join(src, 'self.tar.gz')
    const r = await createBkArchive({cwd: src, file, meta: meta(src)})
    const listed = execFileSync('tar', ['-tzf', file]).toString().trim().split('\n')
    expect(listed.filter((l) => l.includes('self.tar.gz') || l.includes('partial'))).toEqual([])
    expect(r.manifest.files.map((f) => f.path)).toEqual(['VERSION', 'db/.hidden', 'db/trac.db'])
    expect((await verifyManifest(file)).ok).toBe(true)
  })

  for (const ext of ['tar.zst', 'tar']) {
    it(`createBkArchive as .${ext}`, async () => {
      const root = temp()
      const src = smallTree()
      const file = join(root, `b.${ext}`)
      const r = await createBkArchive({cwd: src, file, meta: meta(src)})
      expect(r.manifest.files).toHaveLength(3)
      expect((await verifyManifest(file)).ok).toBe(true)
      const first = execFileSync('sh', [
        '-c',
        `tar -tf ${file} ${ext === 'tar.zst' ? '--zstd' : ''} | head -1`,
      ]).toString()
      expect(first.trim()).toBe(MANIFEST_NAME)
    })
  }

  it('detects a tampered bk archive', async () => {
    const root = temp()
    const src = smallTree()
    const file = join(root, 'orig.tar.gz')
    const {manifest} = await createBkArchive({cwd: src, file, meta: meta(src)})
    // same manifest in front of different content
    rmSync(join(src, 'VERSION'))
    writeFileSync(join(src, 'db/trac.db'), 'tampered')
    writeFileSync(join(src, 'added'), 'a')
    const forged = join(root, 'forged.tar.gz')
    await createArchive({cwd: src, file: forged, prepend: [{name: MANIFEST_NAME, content: JSON.stringify(manifest)}]})
    expect(await verifyManifest(forged)).toMatchObject({
      ok: false,
      missing: ['VERSION'],
      changed: ['db/trac.db'],
      extra: ['added'],
    })
  })

  it.skipIf(!fixtureTestsRun())(
    'uses a sidecar for a foreign archive (the IOTstack fixture), listing its members',
    async () => {
      const root = temp()
      const file = join(root, 'backup_6.tar.gz')
      copyFileSync(fixture('iotstack/archives/backup_6.tar.gz'), file)
      const m = await buildArchiveManifest(file, {...meta('/home/pi/IOTstack'), application: 'iotstack', kind: 'full'})
      expect(m.files.map((f) => f.path)).toContain('volumes/mariadb/db_backup/marker.txt')
      expect(m.files.find((f) => f.path === 'docker-compose.yml')?.size).toBe(2931)
      expect(await writeSidecar(file, m)).toBe(sidecarPath(file))
      expect(await readManifest(file)).toEqual(m)
      expect((await verifyManifest(file)).ok).toBe(true)
      // a different archive under the same name fails against the sidecar
      const other = join(root, 'src')
      mkdirSync(other)
      writeFileSync(join(other, 'docker-compose.yml'), 'x')
      await createArchive({cwd: other, file, overwrite: true})
      const v = await verifyManifest(file)
      expect(v.ok).toBe(false)
      expect(v.changed).toEqual(['docker-compose.yml'])
      expect(v.missing.length).toBe(m.files.length - 1)
    },
  )

  it('uses a sidecar naming the artifact itself for a single foreign file', async () => {
    const root = temp()
    const file = join(root, '2026-01-01-00-00-00.fsz')
    writeFileSync(file, Buffer.alloc(5000, 3))
    const m: Manifest = {
      ...(await buildManifest(temp(), {...meta(file), application: 'zodb', kind: 'full'})),
      files: [{path: '2026-01-01-00-00-00.fsz', size: 5000, sha256: sha(Buffer.alloc(5000, 3))}],
    }
    await writeSidecar(file, m)
    expect(await verifyManifest(file)).toMatchObject({ok: true, checked: 1})
    writeFileSync(file, Buffer.alloc(5000, 4))
    expect(await verifyManifest(file)).toMatchObject({ok: false, changed: ['2026-01-01-00-00-00.fsz']})
  })

  it('an artifact without a manifest', async () => {
    const root = temp()
    const dir = smallTree()
    expect((await rejection(readManifest(dir))).message).toMatch(/has no bk-manifest\.json/)
    const file = join(root, 'plain.tar.gz')
    await createArchive({cwd: dir, file})
    expect((await rejection(verifyManifest(file))).message).toMatch(/no bk-manifest\.json as its first member/)
    expect((await rejection(readManifest(join(root, 'missing')))).message).toMatch(/not found/)
  })
})

describe('schema', () => {
  async function invalid(mutate: (m: Record<string, unknown>) => void): Promise<string> {
    const dir = smallTree()
    const m = (await buildManifest(dir, meta(dir))) as unknown as Record<string, unknown>
    await writeManifest(dir, m as unknown as Manifest)
    mutate(m)
    writeFileSync(join(dir, MANIFEST_NAME), JSON.stringify(m))
    const e = await rejection(readManifest(dir))
    expect(e.code).toBe('EMANIFEST')
    expect(e.message).not.toContain('\n')
    return e.message
  }

  it('names the bad field', async () => {
    expect(
      await invalid((m) => {
        ;(m.files as {sha256: string}[])[1]!.sha256 = 'xyz'
      }),
    ).toMatch(/field 'files\[1\]\.sha256'/)
    expect(
      await invalid((m) => {
        delete m.kind
      }),
    ).toMatch(/field 'kind' is missing/)
    expect(
      await invalid((m) => {
        m.colour = 'blue'
      }),
    ).toMatch(/field 'colour' is not a known field/)
    expect(
      await invalid((m) => {
        m.format = 2
      }),
    ).toMatch(/field 'format' must be 1/)
    expect(
      await invalid((m) => {
        m.created = '2026-01-01 10:00'
      }),
    ).toMatch(/field 'created' must be a UTC ISO-8601 time/)
    expect(
      await invalid((m) => {
        ;(m.files as {size: number}[])[0]!.size = -1
      }),
    ).toMatch(/field 'files\[0\]\.size'/)
    expect(
      await invalid((m) => {
        ;(m.files as {path: string}[])[0]!.path = '../etc/passwd'
      }),
    ).toMatch(/field 'files\[0\]\.path'/)
    expect(
      await invalid((m) => {
        ;(m.components as Record<string, unknown>[])[1]!.engine = undefined
        delete (m.components as Record<string, unknown>[])[1]!.engine
      }),
    ).toMatch(/field 'components\[1\]\.engine' is missing/)
  })

  it('isPlainRelativePath takes the paths the schema takes, and only those', async () => {
    const require = createRequire(import.meta.url)
    const {Ajv} = require('ajv') as typeof import('ajv')
    const compiled = new Ajv(manifestAjvOptions).compile(manifestSchema)
    const dir = smallTree()
    const good = (await buildManifest(dir, meta(dir))) as unknown as Record<string, unknown>
    const paths = {
      'a.txt': true,
      'a/b/c.txt': true,
      '.hidden': true,
      'a/..b/c': true,
      'line\nbreak': true,
      '...': true,
      '': false,
      '.': false,
      '..': false,
      '../x': false,
      '/x': false,
      'a/../../up.txt': false,
      'a/./b': false,
      'a//b': false,
      // the pattern has always let a trailing '/' through (it is kept as it was)
      'a/': true,
      'a/..': false,
    }
    for (const [path, plain] of Object.entries(paths)) {
      const m = structuredClone(good)
      ;(m.files as {path: string}[])[0]!.path = path
      expect([path, compiled(m)]).toEqual([path, plain])
      expect([path, isPlainRelativePath(path)]).toEqual([path, plain])
    }
  })

  it('the validator generated at build time is made from this schema and judges as the ajv compile does', async () => {
    const require = createRequire(import.meta.url)
    const {Ajv} = require('ajv') as typeof import('ajv')
    const standalone = (require('ajv/dist/standalone') as {default: (ajv: unknown, v: unknown) => string}).default
    const ajv = new Ajv({...manifestAjvOptions, code: {source: true}})
    const compiled = ajv.compile(manifestSchema)
    const file = fileURLToPath(new URL('../dist/manifest/validate-manifest.cjs', import.meta.url))
    // built from this schema (run pnpm build after changing it)
    expect(readFileSync(file, 'utf8')).toContain(standalone(ajv, compiled))
    const generated = require(file) as typeof compiled
    const dir = smallTree()
    const good = (await buildManifest(dir, meta(dir))) as unknown as Record<string, unknown>
    const variants: ((m: Record<string, unknown>) => void)[] = [
      () => {},
      (m) => delete m.kind,
      (m) => (m.colour = 'blue'),
      (m) => (m.created = '2026-01-01 10:00'),
      (m) => (m.source = 'postgres://u:secret@db/x'),
      (m) => ((m.files as {sha256: string}[])[1]!.sha256 = 'xyz'),
      (m) => ((m.files as {path: string}[])[0]!.path = '../etc/passwd'),
      (m) => delete (m.components as Record<string, unknown>[])[1]!.engine,
    ]
    for (const mutate of variants) {
      const m = structuredClone(good)
      mutate(m)
      expect(generated(m)).toBe(compiled(m))
      expect(generated.errors ?? null).toEqual(compiled.errors ?? null)
    }
  })

  it('refuses a source URL that carries a password, also when writing', async () => {
    expect(
      await invalid((m) => {
        m.source = 'mysql://trac:secret@127.0.0.1/trac'
      }),
    ).toMatch(/field 'source' must not contain a password/)
    const dir = smallTree()
    const m = await buildManifest(dir, {...meta(dir), source: 'postgres://u:pw@host/db'})
    await expect(writeManifest(dir, m)).rejects.toThrow(/source/)
    expect(statSync(dir).isDirectory()).toBe(true)
  })

  it('not JSON at all', async () => {
    const dir = smallTree()
    writeFileSync(join(dir, MANIFEST_NAME), '{"format": 1,')
    expect((await rejection(readManifest(dir))).message).toMatch(/invalid manifest .*: not JSON/)
  })
})
