// Site-level behaviour: retention by stamps, snapshot and zip round trips, named filestorages, hooks, verify.
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {verifyRepository} from '../src/inspect.js'
import {stampOf} from '../src/repozo-date.js'
import {resolveSite} from '../src/settings.js'
import {backupSite, planBackup, pruneSite, restoreSite, retentionOf} from '../src/site.js'
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
      await backupSite(site, {mode: 'backup', full, now: tick})
      return pruneSite(site, 'backup', {keep: 2})
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
    expect(last.removed.map((a) => a.name)).toEqual(['2030-01-01-00-01-00.fsz'])
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
    await pruneSite(site, 'zip', retentionOf(site, 'zip', {}))
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
    // a missing filestorage is found by the plan, before any hook runs
    const missing = await runBk(['zodb', 'backup', '--datafs', join(root, 'nope.fs'), '--no-backup-blobs'])
    expect(missing.stderr).toMatch(/nope\.fs does not exist/)
    // a file that is not a FileStorage fails while acting: the post-command runs with BK_STATUS=failed
    writeFileSync(join(root, 'garbage.fs'), 'not a filestorage')
    const failing = await runBk([
      'zodb',
      'backup',
      '--datafs',
      join(root, 'garbage.fs'),
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
    const planned = dry.json<{plan: {steps: {op: string; target: string}[]}}>().plan.steps
    expect(planned.map((s) => [s.op, s.target.split('/').pop()])).toEqual([['remove', '2026-11-21-22-19-13.fsz']])
    const listed = await runBk(['zodb', 'list', ...args, '--json'])
    const chain = listed.json<{artifacts: {name: string; kind: string; description: string}[]}>().artifacts
    expect(chain.map((a) => [a.name, a.kind, a.description])).toEqual([
      ['2026-11-21-22-19-21.fsz', 'full', '0 incrementals, until 2026-11-21-22-19-21'],
      ['2026-11-21-22-19-13.fsz', 'full', '2 incrementals, until 2026-11-21-22-19-18'],
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
    const {root, blobs} = makeSite()
    const site = await resolveSite({'only-blobs': true, 'blob-storage': [blobs]}, root)
    const loc = join(root, 'var', 'blobstoragebackups')
    const now = Date.now()
    const stamps = [40, 20, 1].map((days) => stampOf(new Date(now - days * 86_400_000)))
    for (const stamp of stamps) mkdirSync(join(loc, `blobstorage.${stamp}`, 'blobstorage'), {recursive: true})
    mkdirSync(join(loc, 'someone-elses-dir'))
    const pruned = await pruneSite(site, 'backup', retentionOf(site, 'backup', {keep: 2}, 30))
    expect(pruned.removed.map((a) => a.name)).toEqual([`blobstorage.${stamps[0]}`])
    expect(readdirSync(loc).sort()).toEqual([
      `blobstorage.${stamps[1]}`,
      `blobstorage.${stamps[2]}`,
      'someone-elses-dir',
    ])
    const none = await pruneSite(site, 'backup', retentionOf(site, 'backup', {}, 7))
    expect(none.removed.map((a) => a.name)).toEqual([`blobstorage.${stamps[1]}`])
  })
})

describe('keep-blob-days on ordinary backups (the recipe documents it for bin/backup)', () => {
  it('removes blob backups older than N days, keeping the newest of each full backup chain; dry run shows them', async () => {
    const {root, datafs, db} = makeSite()
    const site = await resolveSite({datafs: [datafs]}, root)
    const day = 86_400_000
    const now = Date.now()
    const at = (daysAgo: number) => () => new Date(now - daysAgo * day)
    // chain 1: full 40 days ago, incrementals 30 and 20 days ago; chain 2: full 10 days ago
    for (const [daysAgo, full] of [
      [40, true],
      [30, false],
      [20, false],
      [10, true],
    ] as const) {
      db.commit({oids: [1, 2], size: 40})
      await backupSite(site, {mode: 'backup', full, now: at(daysAgo)})
    }
    const loc = join(root, 'var', 'blobstoragebackups')
    const dirs = () => readdirSync(loc).filter((n) => n.startsWith('blobstorage.'))
    expect(dirs()).toHaveLength(4)
    const stampAgo = (d: number) => stampOf(at(d)())
    db.commit({oids: [3], size: 40})
    const planned = await planBackup(site, {mode: 'backup', keepBlobDays: 14, now: at(0)})
    expect(planned.steps.filter((s) => s.op === 'remove').map((s) => s.target.split('/').pop())).toEqual([
      `blobstorage.${stampAgo(30)}`,
      `blobstorage.${stampAgo(40)}`,
    ])
    expect(dirs()).toHaveLength(4)
    const r = await backupSite(site, {mode: 'backup', keepBlobDays: 14, now: at(0)})
    expect(r.storages[0]!.expiredBlobs?.map((p) => p.split('/').pop())).toEqual([
      `blobstorage.${stampAgo(30)}`,
      `blobstorage.${stampAgo(40)}`,
    ])
    expect(dirs().sort()).toEqual([stampAgo(20), stampAgo(10), stampAgo(0)].map((s) => `blobstorage.${s}`).sort())
    // the blob backup hard-linked to a removed one still holds its files
    expect(readFileSync(join(loc, `blobstorage.${stampAgo(20)}`, 'blobstorage', '0x00', 'a.blob'), 'utf8')).toBe('A')
    expect(readdirSync(loc).filter((n) => n.startsWith('.'))).toEqual([])
    // a restore to a date whose blob backup was removed refuses in one line instead of taking older blobs
    const target = tempDir()
    const t = await resolveSite(
      {
        datafs: [join(target, 'var', 'filestorage', 'Data.fs')],
        'blob-storage': [join(target, 'var', 'blobstorage')],
        location: join(root, 'var', 'backups'),
        'blob-backup-location': loc,
      },
      target,
    )
    await expect(restoreSite(t, {mode: 'backup', date: stampAgo(30)})).rejects.toThrow(/no blob backup of blobstorage/)
    rmSync(join(loc, `blobstorage.${stampAgo(10)}`), {recursive: true})
    await expect(restoreSite(t, {mode: 'backup', date: stampAgo(10)})).rejects.toThrow(
      `the blob backup for ${stampAgo(10)} is missing (the newest before it is blobstorage.${stampAgo(20)}`,
    )
    await restoreSite(t, {mode: 'backup', date: stampAgo(20)})
    expect(readFileSync(join(target, 'var', 'blobstorage', '0x00', 'a.blob'), 'utf8')).toBe('A')
  })
})

describe("the recipe's incremental blob archives (incremental_blobs, GNU tar)", () => {
  it('writes them as the recipe does (full .tar + .snar per filestorage chain, then .delta.tar); tar and bk restore them', async () => {
    const {execFileSync} = await import('node:child_process')
    const {root, datafs, blobs, db} = makeSite()
    writeFileSync(join(blobs, '0x00', 'b.blob'), 'B')
    mkdirSync(join(blobs, 'tmp'))
    writeFileSync(join(blobs, 'tmp', 'BUC123'), 'uncommitted')
    const site = await resolveSite({datafs: [datafs]}, root)
    let clock = Date.UTC(2030, 0, 1)
    const run = async (full: boolean) => {
      clock += 60_000
      db.commit({oids: [1], size: 20})
      const r = await backupSite(site, {
        mode: 'backup',
        full,
        archiveBlob: true,
        incrementalBlobs: true,
        now: () => new Date(clock),
      })
      await new Promise((res) => setTimeout(res, 1100)) // tar's change detection: a later second
      return r.storages[0]!.blobs!
    }
    const loc = join(root, 'var', 'blobstoragebackups')
    const s = (minute: number) => stampOf(new Date(Date.UTC(2030, 0, 1, 0, minute)))
    expect((await run(true)).incremental).toBe('full')
    unlinkSync(join(blobs, '0x00', 'a.blob'))
    writeFileSync(join(blobs, '0x00', 'c.blob'), 'C')
    expect((await run(false)).incremental).toBe('delta')
    writeFileSync(join(blobs, '0x00', 'd.blob'), 'D')
    expect((await run(false)).incremental).toBe('delta')
    expect((await run(true)).incremental).toBe('full') // a new filestorage chain starts a new blob chain
    expect(readdirSync(loc).sort()).toEqual([
      `blobstorage.${s(1)}.snar`,
      `blobstorage.${s(1)}.tar`,
      `blobstorage.${s(2)}.delta.tar`,
      `blobstorage.${s(3)}.delta.tar`,
      `blobstorage.${s(4)}.snar`,
      `blobstorage.${s(4)}.tar`,
    ])
    // tar restores them the way the recipe's restore runs it: full first, then each delta, --incremental
    const byTar = tempDir()
    for (const name of [`${s(1)}.tar`, `${s(2)}.delta.tar`]) {
      execFileSync('tar', ['-xf', join(loc, `blobstorage.${name}`), '--incremental', '-C', byTar])
    }
    expect(readdirSync(join(byTar, '0x00')).sort()).toEqual(['b.blob', 'c.blob'])
    expect(existsSync(join(byTar, 'tmp', 'BUC123'))).toBe(false)
    expect(readFileSync(join(byTar, '.layout'), 'utf8')).toBe('bushy')
    // bk restores each point of the first chain, deletions included
    for (const [minute, want] of [
      [1, ['a.blob', 'b.blob']],
      [2, ['b.blob', 'c.blob']],
      [3, ['b.blob', 'c.blob', 'd.blob']],
    ] as const) {
      const target = tempDir()
      const t = await resolveSite(
        {
          datafs: [join(target, 'var', 'filestorage', 'Data.fs')],
          'blob-storage': [join(target, 'var', 'blobstorage')],
          location: join(root, 'var', 'backups'),
          'blob-backup-location': loc,
        },
        target,
      )
      await restoreSite(t, {mode: 'backup', date: s(minute)})
      expect(readdirSync(join(target, 'var', 'blobstorage', '0x00')).sort(), `minute ${minute}`).toEqual([...want])
    }
    // retention removes a whole chain: its full archive, deltas and .snar
    await pruneSite(site, 'backup', {keep: 1})
    expect(readdirSync(loc).sort()).toEqual([`blobstorage.${s(4)}.snar`, `blobstorage.${s(4)}.tar`])
  })

  it('a partial backup with no .snar for its chain makes a plain archive, as the recipe does; needs --archive-blob', async () => {
    const {root, datafs, db} = makeSite()
    const site = await resolveSite({datafs: [datafs]}, root)
    let clock = Date.UTC(2030, 0, 1)
    const now = () => new Date(clock)
    await backupSite(site, {mode: 'backup', full: true, archiveBlob: true, now})
    clock += 60_000
    db.commit({oids: [1], size: 20})
    const r = await backupSite(site, {mode: 'backup', archiveBlob: true, incrementalBlobs: true, now})
    expect(r.storages[0]!.blobs!.incremental).toBe('plain')
    expect(r.storages[0]!.blobs!.reason).toMatch(/no snapshot file \(\.snar\) yet/)
    expect(readdirSync(join(root, 'var', 'blobstoragebackups')).filter((n) => n.endsWith('.snar'))).toEqual([])
    const {planBackup: plan} = await import('../src/site.js')
    await expect(plan(site, {mode: 'backup', incrementalBlobs: true})).rejects.toThrow(/needs --archive-blob/)
  })

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
