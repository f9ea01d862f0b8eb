// What a collective.recipe.backup user types first: the recipe's option names in bk.yml (and as flags), `~` and
// `${VAR}` in paths, `--gzip=false`, enable_snapshotrestore = false, an additional filestorage by name alone.
import {existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {expandPath, resolveSite} from '../src/settings.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

/** `${NAME}` as a user writes it in bk.yml (built, so it is no template placeholder here). */
const ref = (name: string) => `$${'{'}${name}}`
const V = ref('BK_TEST_VAR')

function makeSite() {
  const root = tempDir('bk-recipe-')
  const fsDir = join(root, 'var', 'filestorage')
  mkdirSync(fsDir, {recursive: true})
  const blobs = join(root, 'var', 'blobstorage')
  mkdirSync(join(blobs, '0x00'), {recursive: true})
  writeFileSync(join(blobs, '.layout'), 'bushy')
  writeFileSync(join(blobs, '0x00', 'a.blob'), 'A')
  const datafs = join(fsDir, 'Data.fs')
  SyntheticStorage.open(datafs).commit({oids: [0, 1], size: 100})
  return {root, datafs, blobs}
}

describe("collective.recipe.backup's option names", () => {
  it('bk.yml takes the recipe part as written: locations, use_rsync, archive_blob, keep, gzip, hooks', async () => {
    const {root} = makeSite()
    writeFileSync(
      join(root, 'bk.yml'),
      [
        'zodb:',
        `  datafs: ${V}/filestorage/Data.fs`,
        `  location: ${V}/mybackups`,
        `  blobbackuplocation: ${V}/myblobbackups`,
        `  snapshotlocation: ${V}/mysnapshots`,
        `  blobsnapshotlocation: ${V}/myblobsnapshots`,
        `  ziplocation: ${V}/myzips`,
        `  blobziplocation: ${V}/myblobzips`,
        `  blob_storage: ${V}/blobstorage`,
        '  backup_blobs: "true"',
        '  use_rsync: "false"',
        '  gzip_blob: "yes"',
        '  compress_blob: "off"',
        '  keep: 3',
        '  keep_blob_days: 7',
        '  quick: "true"',
        '  gzip: "false"',
        `  post_command: touch ${join(root, 'post-ran')}`,
        '',
      ].join('\n'),
    )
    const env = {BK_TEST_VAR: join(root, 'var')}
    const r = await runBk(['zodb', 'backup', '-q'], {cwd: root, env})
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const repo = readdirSync(join(root, 'var', 'mybackups'))
    expect(repo.filter((n) => /\.fs$/.test(n))).toHaveLength(1) // gzip: false
    expect(readdirSync(join(root, 'var', 'myblobbackups'))).toEqual([
      expect.stringMatching(/^blobstorage\.\d{4}(-\d\d){5}\.tar$/), // gzip_blob = archive_blob, uncompressed
    ])
    expect(existsSync(join(root, 'post-ran'))).toBe(true)
    const snap = await runBk(['zodb', 'snapshotbackup', '-q'], {cwd: root, env})
    expect(snap.exitCode, snap.stderr).toBe(0)
    expect(readdirSync(join(root, 'var', 'mysnapshots')).some((n) => n.endsWith('.fs'))).toBe(true)
    // the same flag under two names in one section is refused
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  blob_storage: var/blobstorage\n  blob-storage: var/blobstorage\n')
    const twice = await runBk(['zodb', 'backup', '-q'], {cwd: root})
    expect(twice.exitCode).toBe(1)
    expect(twice.stderr).toContain("'zodb.blob_storage' and 'zodb.blob-storage' set the same option; keep one")
  })

  it('the recipe names work as flags too, and --gzip=false is --no-gzip', async () => {
    const {root, datafs} = makeSite()
    const r = await runBk(
      ['zodb', 'backup', '--datafs', datafs, '--gzip=false', '--blobbackuplocation', join(root, 'bb'), '-q'],
      {cwd: root},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readdirSync(join(root, 'var', 'backups')).filter((n) => n.endsWith('.fs'))).toHaveLength(1)
    expect(readdirSync(join(root, 'bb')).some((n) => n.startsWith('blobstorage.'))).toBe(true)
    const bad = await runBk(['zodb', 'backup', '--datafs', datafs, '--gzip=often'], {cwd: root})
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain("--gzip takes true or false, not 'often'")
  })

  it('enable_snapshotrestore = false makes snapshotrestore refuse in one line, before touching anything', async () => {
    const {root} = makeSite()
    expect((await runBk(['zodb', 'snapshotbackup', '-q'], {cwd: root})).exitCode).toBe(0)
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  enable_snapshotrestore: false\n')
    const r = await runBk(['zodb', 'snapshotrestore', '-y'], {cwd: root})
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('snapshotrestore is disabled by enable_snapshotrestore = false')
    // the other commands read the same file without complaint
    expect((await runBk(['zodb', 'list', '--snapshot'], {cwd: root})).exitCode).toBe(0)
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  enable_zipbackup: false\n')
    const zip = await runBk(['zodb', 'zipbackup', '-q'], {cwd: root})
    expect(zip.exitCode).toBe(1)
    expect(zip.stderr).toContain('zipbackup is disabled by enable_zipbackup = false')
  })

  it('--datafs NAME alone, and additional_filestorages lines, take the recipe default path', async () => {
    const {root, datafs} = makeSite()
    const fsDir = join(root, 'var', 'filestorage')
    SyntheticStorage.open(join(fsDir, 'catalog.fs')).commit({oids: [0, 3], size: 30})
    const byName = await resolveSite({datafs: ['catalog'], 'backup-blobs': false}, root)
    expect(byName.storages.map((s) => [s.name, s.datafs, s.locations.location])).toEqual([
      ['catalog', join(fsDir, 'catalog.fs'), join(root, 'var', 'backups_catalog')],
      ['Data', join(root, 'var', 'filestorage', 'Data.fs'), join(root, 'var', 'backups')],
    ])
    const lines = await resolveSite(
      {datafs: [datafs], 'additional-filestorages': ['catalog', `extra ${join(root, 'x.fs')} ${join(root, 'xb')}`]},
      root,
    )
    expect(lines.storages.map((s) => [s.name, s.datafs, s.blobStorage])).toEqual([
      ['catalog', join(fsDir, 'catalog.fs'), undefined],
      ['extra', join(root, 'x.fs'), join(root, 'xb')],
      ['Data', datafs, join(root, 'var', 'blobstorage')],
    ])
    await expect(resolveSite({'additional-filestorages': ['Data']}, root)).rejects.toThrow(/a NAME other than Data/)
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  additional_filestorages:\n    - catalog\n  backup_blobs: false\n')
    const r = await runBk(['zodb', 'backup', '-q'], {cwd: root})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(readdirSync(join(root, 'var', 'backups_catalog')).some((n) => n.endsWith('.fsz'))).toBe(true)
  })

  it('expands ~ and environment variables in paths; an unset one or a buildout reference is an error naming it', () => {
    expect(expandPath('~/backups')).toBe(join(homedir(), 'backups'))
    expect(expandPath(`${ref('X')}/a/$Y`, {X: '/srv', Y: 'b'})).toBe('/srv/a/b')
    expect(() => expandPath(`${ref('NOPE')}/x`, {})).toThrow(
      `${ref('NOPE')}/x: the environment variable NOPE is not set`,
    )
    expect(() => expandPath(`${ref('buildout:directory')}/var`, {})).toThrow(/a buildout reference; write the path/)
  })

  it('incremental_blobs and keep_blob_days from bk.yml reach the backup (CLI)', async () => {
    const {root, datafs, blobs} = makeSite()
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  archive_blob: true\n  incremental_blobs: true\n')
    expect((await runBk(['zodb', 'backup', '-q'], {cwd: root})).exitCode).toBe(0)
    await new Promise((r) => setTimeout(r, 1100))
    SyntheticStorage.open(datafs).commit({oids: [4], size: 10})
    writeFileSync(join(blobs, '0x00', 'z.blob'), 'Z')
    const r = await runBk(['zodb', 'backup', '-q'], {cwd: root})
    expect(r.exitCode, r.stderr).toBe(0)
    const names = readdirSync(join(root, 'var', 'blobstoragebackups'))
    expect(names.map((n) => n.replace(/\d{4}(-\d\d){5}/, 'S')).sort()).toEqual([
      'blobstorage.S.delta.tar',
      'blobstorage.S.snar',
      'blobstorage.S.tar',
    ])
    // keep_blob_days: given, an ordinary backup plans the removal of old blob directories (the newest kept)
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  keep_blob_days: 1\n')
    const old = join(root, 'var', 'blobstoragebackups', 'blobstorage.2001-01-01-00-00-00')
    mkdirSync(join(old, 'blobstorage'), {recursive: true})
    mkdirSync(join(root, 'var', 'blobstoragebackups', 'blobstorage.2001-01-02-00-00-00', 'blobstorage'), {
      recursive: true,
    })
    const dry = await runBk(['zodb', 'backup', '--dry-run', '--json'], {cwd: root})
    expect(dry.exitCode, dry.stderr).toBe(0)
    const steps = dry.json<{plan: {steps: {op: string; target: string}[]}}>().plan.steps
    expect(steps.filter((s) => s.op === 'remove').map((s) => s.target)).toContain(old)
    const full = await runBk(['zodb', 'fullbackup', '--dry-run', '--json'], {cwd: root})
    const fullSteps = full.json<{plan: {steps: {op: string; target: string}[]}}>().plan.steps
    expect(fullSteps.filter((s) => s.op === 'remove' && s.target === old)).toEqual([])
  })

  it("the recipe's options without an equivalent: accepted when harmless, else a one-line pointer", async () => {
    const {root} = makeSite()
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  blob_timestamps: true\n  debug: false\n  enable_fullbackup: true\n')
    expect((await runBk(['zodb', 'backup', '-q'], {cwd: root})).exitCode).toBe(0)
    for (const [yml, pointer] of [
      ['rsync_options: --no-l -k', 'rsync_options: bk copies blobs itself, without rsync'],
      ['rsync_hard_links_on_first_copy: true', 'bk never hard-links a backup to the live blobs'],
      ['blob_timestamps: false', 'bk always names blob backups by stamp'],
      ['alternative_restore_source: Data /srv/other/backups', 'restore from other locations with --location DIR'],
      ['debug: true', 'use -v (--verbose)'],
    ]) {
      writeFileSync(join(root, 'bk.yml'), `zodb:\n  ${yml}\n`)
      const r = await runBk(['zodb', 'restore', '--dry-run'], {cwd: root})
      expect(r.exitCode, yml).toBe(1)
      expect(r.stderr.trim().split('\n'), yml).toHaveLength(1)
      expect(r.stderr, yml).toContain(pointer)
    }
  })
})
