import {cpSync, mkdirSync, readdirSync, utimesSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {
  Catalog,
  datedNaming,
  parseAsOf,
  planRetention,
  prune,
  rollingNaming,
  snapshotNaming,
} from '../src/catalog/index.js'
import {BkError} from '../src/errors.js'
import {createBkArchive} from '../src/manifest/index.js'

process.env.TZ = 'UTC'

const repozo = datedNaming({format: '%Y-%m-%d-%H-%M-%S', suffix: ['.fs', '.fsz'], clock: 'utc'})

function location(): string {
  const dir = tempDir()
  writeFileSync(join(dir, '2026-01-01-00-00-00.fs'), 'a'.repeat(10))
  writeFileSync(join(dir, '2026-01-02-12-00-00.fsz'), 'b'.repeat(20))
  writeFileSync(
    join(dir, '2026-01-02-12-00-00.fsz.bk.json'),
    JSON.stringify({kind: 'full', description: 'before upgrade', application: 'zodb', created: '2026-01-02T12:00:00Z'}),
  )
  writeFileSync(join(dir, '2026-01-03-00-00-00.fs'), 'c'.repeat(30))
  writeFileSync(join(dir, '2026-01-03-00-00-00.dat'), 'not an artifact of this naming')
  writeFileSync(join(dir, '.2026-01-04-00-00-00.fs.bk-partial-123'), 'partial')
  writeFileSync(join(dir, 'README'), 'x')
  return dir
}

describe('Catalog', () => {
  it('lists the naming’s artifacts newest first with size, kind and description; skips partials and others', async () => {
    const dir = location()
    const entries = await new Catalog(dir, repozo).list()
    expect(entries.map((e) => [e.name, e.size, e.kind, e.description, e.dateFrom])).toEqual([
      ['2026-01-03-00-00-00.fs', 30, undefined, undefined, 'name'],
      ['2026-01-02-12-00-00.fsz', 20, 'full', 'before upgrade', 'name'],
      ['2026-01-01-00-00-00.fs', 10, undefined, undefined, 'name'],
    ])
    expect(entries[1]?.sidecar).toBe(join(dir, '2026-01-02-12-00-00.fsz.bk.json'))
    expect(entries[0]?.date.toISOString()).toBe('2026-01-03T00:00:00.000Z')
  })

  it('sums directory sizes and reads bk-manifest.json inside a directory artifact', async () => {
    const dir = tempDir()
    const naming = snapshotNaming({prefix: 'hotcopy-'})
    const artifact = join(dir, naming.format(new Date('2026-03-01T10:00:00Z')))
    mkdirSync(join(artifact, 'db'), {recursive: true})
    writeFileSync(join(artifact, 'db', 'trac.db'), Buffer.alloc(1000))
    const manifest = JSON.stringify({kind: 'hotcopy', description: 'nightly'})
    writeFileSync(join(artifact, 'bk-manifest.json'), manifest)
    const [entry] = await new Catalog(dir, naming).list()
    expect(entry).toMatchObject({type: 'dir', kind: 'hotcopy', description: 'nightly', size: 1000 + manifest.length})
  })

  it('an IOTstack location: dated names from the fixture, no manifest in a foreign archive', async () => {
    const dir = tempDir()
    cpSync(
      fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz'),
      join(dir, 'backup_2026-11-21_2219.tar.gz'),
    )
    const naming = datedNaming({prefix: 'backup_', format: '%Y-%m-%d_%H%M', suffix: '.tar.gz', clock: 'local'})
    const [entry] = await new Catalog(dir, naming).list()
    expect(entry).toMatchObject({name: 'backup_2026-11-21_2219.tar.gz', size: 803025, kind: undefined})
  })

  it('reads kind and description of a bk archive from its first member', async () => {
    const dir = tempDir()
    const source = tempDir()
    writeFileSync(join(source, 'data.txt'), 'data')
    const naming = datedNaming({prefix: 'tracker-', format: '%Y%m%d-%H%M%S', suffix: '.tar.gz', clock: 'utc'})
    await createBkArchive({
      cwd: source,
      file: join(dir, naming.format(new Date('2026-05-01T02:00:00Z'))),
      meta: {
        plugin: {name: '@bkcli/plugin-roundup', version: '0.0.0'},
        application: 'roundup',
        kind: 'full',
        source,
        description: 'weekly',
        components: [],
      },
    })
    const [entry] = await new Catalog(dir, naming).list()
    expect(entry).toMatchObject({
      name: 'tracker-20260501-020000.tar.gz',
      kind: 'full',
      description: 'weekly',
      application: 'roundup',
    })
    const [quick] = await new Catalog(dir, naming, {manifests: false}).list()
    expect(quick?.kind).toBeUndefined()
  })

  it('rolling names take their date from the file (mtime) and are reused by nextName', async () => {
    const dir = tempDir()
    const naming = rollingNaming({prefix: 'backup_', suffix: '.tar.gz'})
    writeFileSync(join(dir, 'backup_6.tar.gz'), 'x')
    writeFileSync(join(dir, 'backup_5.tar.gz'), 'y')
    utimesSync(join(dir, 'backup_6.tar.gz'), new Date('2026-11-21T22:19:00Z'), new Date('2026-11-21T22:19:00Z'))
    utimesSync(join(dir, 'backup_5.tar.gz'), new Date('2026-11-20T22:19:00Z'), new Date('2026-11-20T22:19:00Z'))
    const catalog = new Catalog(dir, naming)
    const entries = await catalog.list()
    expect(entries.map((e) => [e.name, e.slot, e.dateFrom, e.date.toISOString()])).toEqual([
      ['backup_6.tar.gz', 6, 'mtime', '2026-11-21T22:19:00.000Z'],
      ['backup_5.tar.gz', 5, 'mtime', '2026-11-20T22:19:00.000Z'],
    ])
    expect(await catalog.nextName(new Date('2026-11-21T10:00:00Z'))).toBe('backup_6.tar.gz')
  })

  it('nextName adds _1, _2 when the name (or its sidecar) is taken', async () => {
    const dir = tempDir()
    const naming = datedNaming({prefix: 'site-', format: '%Y%m%d.%H%M%S', suffix: '.tar.gz', clock: 'utc'})
    const catalog = new Catalog(dir, naming)
    const at = new Date('2026-01-01T00:00:00Z')
    expect(await catalog.nextName(at)).toBe('site-20260101.000000.tar.gz')
    writeFileSync(join(dir, 'site-20260101.000000.tar.gz'), 'x')
    writeFileSync(join(dir, 'site-20260101.000000_1.tar.gz.bk.json'), '{}')
    expect(await catalog.nextName(at)).toBe('site-20260101.000000_2.tar.gz')
    writeFileSync(join(dir, 'site-20260101.000000_2.tar.gz'), 'x')
    const names = (await catalog.list()).map((e) => e.name)
    expect(names).toEqual(['site-20260101.000000_2.tar.gz', 'site-20260101.000000.tar.gz'])
  })

  it('a location that does not exist yet is empty', async () => {
    expect(await new Catalog(join(tempDir(), 'missing'), repozo).list()).toEqual([])
  })

  it('asOf picks the newest entry at or before the moment', async () => {
    const catalog = new Catalog(location(), repozo)
    expect((await catalog.asOf(parseAsOf('2026-01-02-12')))?.name).toBe('2026-01-02-12-00-00.fsz') // inclusive
    expect((await catalog.asOf(parseAsOf('2026-01-02-11-59-59')))?.name).toBe('2026-01-01-00-00-00.fs')
    expect((await catalog.asOf(parseAsOf('2026-01-02')))?.name).toBe('2026-01-01-00-00-00.fs')
    expect((await catalog.asOf(parseAsOf('2030-01-01')))?.name).toBe('2026-01-03-00-00-00.fs')
    expect(await catalog.asOf(parseAsOf('2025-12-31-23-59-59'))).toBeUndefined()
  })
})

describe('parseAsOf', () => {
  it('reads repozo dates as UTC, missing fields being the start of the period', () => {
    expect(parseAsOf('2024-01-02').toISOString()).toBe('2024-01-02T00:00:00.000Z')
    expect(parseAsOf('2024-01-02-10').toISOString()).toBe('2024-01-02T10:00:00.000Z')
    expect(parseAsOf('2024-01-02-10-30').toISOString()).toBe('2024-01-02T10:30:00.000Z')
    expect(parseAsOf('2024-01-02-10-30-15').toISOString()).toBe('2024-01-02T10:30:15.000Z')
  })

  it('reads ISO-8601 with or without an offset (none = UTC)', () => {
    expect(parseAsOf('2024-01-02T10:30:00Z').toISOString()).toBe('2024-01-02T10:30:00.000Z')
    expect(parseAsOf('2024-01-02T10:30').toISOString()).toBe('2024-01-02T10:30:00.000Z')
    expect(parseAsOf('2024-01-02 10:30:05').toISOString()).toBe('2024-01-02T10:30:05.000Z')
    expect(parseAsOf('2024-01-02T12:30:00+02:00').toISOString()).toBe('2024-01-02T10:30:00.000Z')
    expect(parseAsOf('2024-01-02T05:30:00.250-0500').toISOString()).toBe('2024-01-02T10:30:00.250Z')
  })

  it('rejects anything else with a BkError saying what is expected', () => {
    for (const bad of [
      '',
      'yesterday',
      '2024-1-2',
      '2024-02-30',
      '2024-01-02-24',
      '2024-01-02-10-60',
      '2024-01-02T25:00',
      '20240102',
      '2024-01-02-10-30-15-1',
    ]) {
      const error = (() => {
        try {
          parseAsOf(bad)
        } catch (e) {
          return e
        }
      })()
      expect(error, bad).toBeInstanceOf(BkError)
      expect((error as Error).message).toContain('yyyy-mm-dd[-hh[-mm[-ss]]]')
    }
  })
})

describe('prune', () => {
  it('removes files and directories of the plan with their sidecars; dry run removes nothing', async () => {
    const dir = location()
    const extraDir = join(dir, '2025-12-01-00-00-00.fs')
    mkdirSync(extraDir)
    writeFileSync(join(extraDir, 'inside'), 'x')
    const catalog = new Catalog(dir, repozo)
    const plan = planRetention(await catalog.list(), {keep: 2})
    expect(plan.remove.map((e) => e.name)).toEqual(['2026-01-01-00-00-00.fs', '2025-12-01-00-00-00.fs'])
    const before = readdirSync(dir).sort()
    expect(await prune(plan, {dryRun: true})).toEqual([join(dir, '2026-01-01-00-00-00.fs'), extraDir])
    expect(readdirSync(dir).sort()).toEqual(before)

    const plan2 = planRetention(await catalog.list(), {keep: 1})
    const removed = await prune(plan2)
    expect(removed).toEqual([
      join(dir, '2026-01-02-12-00-00.fsz'),
      join(dir, '2026-01-02-12-00-00.fsz.bk.json'),
      join(dir, '2026-01-01-00-00-00.fs'),
      extraDir,
    ])
    expect(readdirSync(dir).sort()).toEqual([
      '.2026-01-04-00-00-00.fs.bk-partial-123',
      '2026-01-03-00-00-00.dat',
      '2026-01-03-00-00-00.fs',
      'README',
    ])
  })

  it('removes extra paths that belong to an entry', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'a.fs'), 'a')
    writeFileSync(join(dir, 'a.dat'), 'a')
    const entry = {name: 'a.fs', path: join(dir, 'a.fs'), date: new Date(0), extraPaths: [join(dir, 'a.dat')]}
    await prune({keep: [], remove: [entry], reasons: new Map()})
    expect(readdirSync(dir)).toEqual([])
  })
})
