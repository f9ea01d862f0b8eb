// Site-level behaviour: retention by stamps, snapshot and zip round trips, named filestorages, hooks, verify.
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {verifyRepository} from '../src/inspect.js'
import {resolveSite} from '../src/settings.js'
import {backupSite, restoreSite} from '../src/site.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')

function makeSite() {
  const root = tempDir()
  const fsDir = join(root, 'var', 'filestorage')
  mkdirSync(fsDir, {recursive: true})
  const blobs = join(root, 'var', 'blobstorage')
  mkdirSync(join(blobs, '0x00'), {recursive: true})
  writeFileSync(join(blobs, '.layout'), 'bushy')
  writeFileSync(join(blobs, '0x00', 'a.blob'), 'A')
  const datafs = join(fsDir, 'Data.fs')
  const db = SyntheticStorage.open(datafs)
  db.commit({oids: [0, 1], size: 100})
  return {root, datafs, blobs, db}
}

describe('retention', () => {
  it('keeps the newest N full backups with their incrementals and blob backups, and never foreign files', async () => {
    const {root, datafs, db} = makeSite()
    const site = await resolveSite({datafs: [datafs]}, root)
    let clock = Date.UTC(2030, 0, 1)
    const tick = () => new Date(clock)
    const run = async (full: boolean) => {
      clock += 60_000
      db.commit({oids: [1], size: 50})
      return backupSite(site, {mode: 'backup', full, retention: {keep: 2}, now: tick})
    }
    const repo = join(root, 'var', 'backups')
    await run(true)
    writeFileSync(join(repo, 'README.txt'), 'not a backup')
    await run(false)
    await run(true)
    await run(false)
    const last = await run(true)
    const stamps = new Set(readdirSync(repo).map((n) => n.slice(0, 19)))
    // first chain (full + incremental) gone; second chain (full + incremental) and third kept
    expect([...stamps].sort()).toEqual([
      '2030-01-01-00-03-00',
      '2030-01-01-00-04-00',
      '2030-01-01-00-05-00',
      'README.txt',
    ])
    expect(last.storages[0]!.pruned.some((p) => p.endsWith('2030-01-01-00-01-00.fsz'))).toBe(true)
    const blobDirs = readdirSync(join(root, 'var', 'blobstoragebackups')).filter((n) => n !== 'latest')
    expect(blobDirs.sort()).toEqual([
      'blobstorage.2030-01-01-00-03-00',
      'blobstorage.2030-01-01-00-04-00',
      'blobstorage.2030-01-01-00-05-00',
    ])
    expect(readFileSync(join(repo, 'README.txt'), 'utf8')).toBe('not a backup')
  })
})

describe('snapshot and zip', () => {
  it('round-trip through their own locations; zip keeps one and archives the blobs', async () => {
    const {root, datafs, blobs, db} = makeSite()
    const site = await resolveSite({datafs: [datafs]}, root)
    let clock = Date.UTC(2030, 0, 1)
    const now = () => new Date(clock)
    await backupSite(site, {mode: 'snapshot', now})
    const snap1 = readFileSync(datafs)
    clock += 2000
    db.commit({oids: [5], size: 10})
    await backupSite(site, {mode: 'zip', now})
    clock += 2000
    db.commit({oids: [6], size: 10})
    await backupSite(site, {mode: 'zip', now})
    const zipped = readFileSync(datafs)
    expect(readdirSync(join(root, 'var', 'zipbackups')).filter((n) => n.endsWith('.fsz'))).toHaveLength(1)
    expect(readdirSync(join(root, 'var', 'blobstoragezips'))).toEqual(['blobstorage.2030-01-01-00-00-04.tar'])
    expect(readdirSync(join(root, 'var', 'snapshotbackups')).filter((n) => n.endsWith('.fsz'))).toHaveLength(1)

    writeFileSync(join(blobs, '0x00', 'a.blob'), 'changed')
    await restoreSite(site, {mode: 'snapshot'})
    expect(md5(readFileSync(datafs))).toBe(md5(snap1))
    expect(readFileSync(join(blobs, '0x00', 'a.blob'), 'utf8')).toBe('A')
    await restoreSite(site, {mode: 'zip'})
    expect(md5(readFileSync(datafs))).toBe(md5(zipped))
    expect(readFileSync(join(blobs, '.layout'), 'utf8')).toBe('bushy')
  })
})

describe('several named filestorages', () => {
  it('backs up the extra ones first into <location>_<name> and restores each', async () => {
    const {root, datafs, db} = makeSite()
    const catalog = join(root, 'var', 'filestorage', 'catalog.fs')
    SyntheticStorage.open(catalog).commit({oids: [0, 7], size: 33})
    const site = await resolveSite({datafs: [datafs, `catalog=${catalog}`], 'backup-blobs': false}, root)
    expect(site.storages.map((s) => s.name)).toEqual(['catalog', 'Data'])
    const r = await backupSite(site, {mode: 'backup', now: () => new Date(Date.UTC(2030, 0, 1))})
    expect(r.storages.map((s) => s.repository)).toEqual([
      join(root, 'var', 'backups_catalog'),
      join(root, 'var', 'backups'),
    ])
    const c = readFileSync(catalog)
    const d = readFileSync(datafs)
    db.commit({oids: [3], size: 3})
    writeFileSync(catalog, 'garbage')
    await restoreSite(site, {mode: 'backup'})
    expect(readFileSync(catalog).equals(c)).toBe(true)
    expect(readFileSync(datafs).equals(d)).toBe(true)
  })
})

describe('hooks and verify through the CLI', () => {
  it('runs the post-command after a failure with BK_STATUS=failed, and verify finds a missing middle delta', async () => {
    const {root, datafs, db} = makeSite()
    const out = join(root, 'hook.log')
    const common = ['--datafs', datafs, '--no-backup-blobs']
    const ok = await runBk([
      'zodb',
      'backup',
      ...common,
      '--pre-command',
      `echo pre >> ${out}`,
      '--post-command',
      `echo post $BK_STATUS >> ${out}`,
      '-q',
    ])
    expect(ok.exitCode).toBe(0)
    expect(ok.stdout).toBe('')
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 1000))
      db.commit({oids: [i], size: 10})
      expect((await runBk(['zodb', 'backup', ...common, '-q'])).exitCode).toBe(0)
    }
    const repo = join(root, 'var', 'backups')
    expect((await runBk(['zodb', 'verify', ...common])).exitCode).toBe(0)
    const deltas = readdirSync(repo)
      .filter((n) => n.endsWith('.deltafsz'))
      .sort()
    expect(deltas).toHaveLength(2)
    unlinkSync(join(repo, deltas[0]!))
    const verify = await runBk(['zodb', 'verify', ...common, '--json'])
    expect(verify.exitCode).toBe(1)
    expect(JSON.stringify(verify.json())).toContain(`${deltas[0]} is missing`)
    expect((await verifyRepository(repo))[0]!.ok).toBe(false)
    const restore = await runBk([
      'zodb',
      'restore',
      ...common,
      '-y',
      '--post-command',
      `echo post $BK_STATUS >> ${out}`,
    ])
    expect(restore.exitCode).toBe(1)
    expect(restore.stderr).toMatch(/is missing .*the backup chain is broken/)
    // the failure was found before the post-command could run: planning happens first
    const failing = await runBk([
      'zodb',
      'backup',
      '--datafs',
      join(root, 'nope.fs'),
      '--no-backup-blobs',
      '--post-command',
      `echo post $BK_STATUS >> ${out}`,
    ])
    expect(failing.exitCode).toBe(1)
    expect(readFileSync(out, 'utf8')).toBe('pre\npost ok\npost failed\n')
    expect(existsSync(`${datafs}.part`)).toBe(false)
  })
})

describe('bk.yml', () => {
  it('takes options from the zodb section (flags win) and names an unknown key', async () => {
    const {root} = makeSite()
    writeFileSync(
      join(root, 'bk.yml'),
      'zodb:\n  datafs: [var/filestorage/Data.fs]\n  gzip: false\n  backup-blobs: false\n  keep: 1\n',
    )
    const r = await runBk(['zodb', 'backup', '-q'], {cwd: root})
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
    const names = readdirSync(join(root, 'var', 'backups'))
    expect(names.filter((n) => n.endsWith('.fs'))).toHaveLength(1)
    const dat = readFileSync(join(root, 'var', 'backups', names.find((n) => n.endsWith('.dat'))!), 'utf8')
    expect(dat).toMatch(new RegExp(`^${join(root, 'var', 'backups')}/\\d{4}(-\\d\\d){5}\\.fs 0 \\d+ [0-9a-f]{32}\\n$`))
    await new Promise((res) => setTimeout(res, 1000))
    const flagWins = await runBk(['zodb', 'fullbackup', '-q', '--gzip'], {cwd: root})
    expect(flagWins.exitCode).toBe(0)
    expect(readdirSync(join(root, 'var', 'backups')).filter((n) => n.endsWith('.fsz'))).toHaveLength(1)
    writeFileSync(join(root, 'bk.yml'), 'zodb:\n  kep: 1\n')
    const bad = await runBk(['zodb', 'backup'], {cwd: root})
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toMatch(/unknown key 'zodb.kep'/)
  })
})

describe('prune', () => {
  it('removes whole old chains of a repozo-written repository, after a dry run shows them', async () => {
    const root = tempDir()
    mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
    extractFixture('zodb', 'repo-gzip', join(root, 'var'))
    const args = ['--datafs', join(root, 'var', 'filestorage', 'Data.fs'), '--location', join(root, 'var', 'repo-gzip')]
    const dry = await runBk(['zodb', 'prune', ...args, '--keep', '1', '--dry-run', '--json'])
    expect(dry.exitCode).toBe(0)
    const planned = dry.json<{storages: {removed: string[]}[]}>().storages[0]!.removed.map((p) => p.split('/').pop())
    expect(planned).toEqual([
      '2026-11-21-22-19-13.dat',
      '2026-11-21-22-19-13.fsz',
      '2026-11-21-22-19-13.index',
      '2026-11-21-22-19-16.deltafsz',
      '2026-11-21-22-19-16.index',
      '2026-11-21-22-19-18.deltafsz',
      '2026-11-21-22-19-18.index',
    ])
    expect(readdirSync(join(root, 'var', 'repo-gzip'))).toHaveLength(10)
    const refused = await runBk(['zodb', 'prune', ...args, '--keep', '1'])
    expect(refused.exitCode).toBe(1)
    const done = await runBk(['zodb', 'prune', ...args, '--keep', '1', '-y', '-q'])
    expect(done.exitCode).toBe(0)
    expect(readdirSync(join(root, 'var', 'repo-gzip')).sort()).toEqual([
      '2026-11-21-22-19-21.dat',
      '2026-11-21-22-19-21.fsz',
      '2026-11-21-22-19-21.index',
    ])
  })
})

describe('blob retention without filestorage backups (--only-blobs)', () => {
  it('keeps blob backups younger than keep-blob-days (by their name stamps) and always the newest', async () => {
    const {pruneBlobBackups} = await import('../src/retention.js')
    const loc = tempDir()
    for (const stamp of ['2030-01-01-00-00-00', '2030-01-10-00-00-00', '2030-01-20-00-00-00']) {
      mkdirSync(join(loc, `blobstorage.${stamp}`, 'blobstorage'), {recursive: true})
    }
    mkdirSync(join(loc, 'someone-elses-dir'))
    const removed = await pruneBlobBackups(loc, 'blobstorage', {
      keepBlobDays: 14,
      now: new Date(Date.UTC(2030, 0, 21)),
    })
    expect(removed.map((p) => p.split('/').pop())).toEqual(['blobstorage.2030-01-01-00-00-00'])
    expect(readdirSync(loc).sort()).toEqual([
      'blobstorage.2030-01-10-00-00-00',
      'blobstorage.2030-01-20-00-00-00',
      'someone-elses-dir',
    ])
    const none = await pruneBlobBackups(loc, 'blobstorage', {keepBlobDays: 1, now: new Date(Date.UTC(2031, 0, 1))})
    expect(none.map((p) => p.split('/').pop())).toEqual(['blobstorage.2030-01-10-00-00-00'])
  })
})

describe("the recipe's incremental blob archives (incremental_blobs, GNU tar)", () => {
  it('restores a full tar and its deltas in order, deletions included', async () => {
    const {execFileSync} = await import('node:child_process')
    const {findBlobBackup, restoreBlobs} = await import('../src/blobs.js')
    const root = tempDir()
    const blobs = join(root, 'blobstorage')
    const loc = join(root, 'blobbackups')
    mkdirSync(join(blobs, '0x01'), {recursive: true})
    mkdirSync(loc)
    writeFileSync(join(blobs, '.layout'), 'bushy')
    writeFileSync(join(blobs, '0x01', 'a.blob'), 'A')
    writeFileSync(join(blobs, '0x01', 'b.blob'), 'B')
    const snar = join(loc, 'blobstorage.2030-01-01-00-00-00.snar')
    const tar = (name: string) =>
      execFileSync('tar', ['-cf', join(loc, name), `--listed-incremental=${snar}`, '-C', blobs, '.'])
    tar('blobstorage.2030-01-01-00-00-00.tar')
    unlinkSync(join(blobs, '0x01', 'a.blob'))
    writeFileSync(join(blobs, '0x01', 'c.blob'), 'C')
    await new Promise((r) => setTimeout(r, 1100))
    tar('blobstorage.2030-01-02-00-00-00.delta.tar')
    const live = () => readdirSync(join(blobs, '0x01')).sort()
    const newest = await findBlobBackup(loc, 'blobstorage')
    expect(newest.chain?.map((e) => e.name)).toEqual([
      'blobstorage.2030-01-01-00-00-00.tar',
      'blobstorage.2030-01-02-00-00-00.delta.tar',
    ])
    writeFileSync(join(blobs, '0x01', 'junk.blob'), 'X')
    await restoreBlobs(newest, blobs)
    expect(live()).toEqual(['b.blob', 'c.blob'])
    await restoreBlobs(await findBlobBackup(loc, 'blobstorage', '2030-01-01-12'), blobs)
    expect(live()).toEqual(['a.blob', 'b.blob'])
  })
})
