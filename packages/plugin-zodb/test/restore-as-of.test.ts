// `bk zodb restore --as-of TIME`: the chain covering TIME, staged, cut after the last transaction committed at or
// before TIME, its index built from what is kept. Checked against the writer's own log (every transaction's
// commit time, the file's end after it, the oids it wrote) for repositories written by `bk zodb backup` (fulls
// and incrementals) and by `bk zodb follow` (a live writer), and the restored file's record walk.
import {mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {tidToDate} from '../src/filestorage.js'
import {FsIndex, readIndexFile} from '../src/fsindex.js'
import {RecordParser} from '../src/record-parser.js'
import {resolveSite} from '../src/settings.js'
import {backupSite, restoreSite} from '../src/site.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'
import {FollowProcess, followWorkspace, sleep} from './follow-helpers.js'

interface Logged {
  time: Date
  end: number
  oids: number[]
}

/** Commits a transaction and logs it as the writer saw it. */
function commit(db: SyntheticStorage, datafs: string, log: Logged[], oids: number[]): void {
  db.commit({oids, size: 60 + (log.length % 5) * 20})
  const data = readFileSync(datafs)
  const tlen = Number(data.readBigUInt64BE(data.length - 8))
  log.push({time: tidToDate(data.subarray(data.length - 8 - tlen, data.length - tlen)), end: data.length, oids})
}

/** The index of a FileStorage image, and its record walk checked. */
function walk(bytes: Buffer): {index: [bigint, number][]; transactions: number} {
  const index = new FsIndex()
  const parser = new RecordParser({start: 0, onRecord: (oid, at) => index.set(oid, at)})
  parser.push(bytes)
  parser.end()
  return {index: [...index.sorted()], transactions: parser.transactions}
}

/** Checks one restored Data.fs against the log as of `moment`. */
async function expectAsOf(out: string, whole: Buffer, log: Logged[], moment: Date): Promise<void> {
  const kept = log.filter((t) => t.time.getTime() <= moment.getTime())
  const end = kept.at(-1)?.end ?? 4
  const restored = readFileSync(out)
  const what = moment.toISOString()
  expect(restored.length, what).toBe(end)
  expect(restored.equals(whole.subarray(0, end)), what).toBe(true)
  const walked = walk(restored)
  expect(walked.transactions, what).toBe(kept.length)
  // every object the writer wrote until then is there, and none written later
  const oids = new Set(kept.flatMap((t) => t.oids.map(BigInt)))
  expect(new Set(walked.index.map(([oid]) => oid)), what).toEqual(oids)
  // the index beside it was built from the kept data
  const index = await readIndexFile(`${out}.index`)
  expect(index.pos, what).toBe(end)
  expect([...index.index.sorted()], what).toEqual(walked.index)
}

function randomMoments(log: Logged[], n: number): Date[] {
  const first = log[0]!.time.getTime()
  const last = log.at(-1)!.time.getTime()
  return [
    new Date(first - 1000),
    new Date(last + 5000),
    log[Math.floor(log.length / 2)]!.time,
    ...Array.from({length: n - 3}, () => new Date(first - 5 + Math.floor(Math.random() * (last - first + 10)))),
  ]
}

describe('bk zodb restore --as-of', () => {
  it('restores a repository of fulls and incrementals (bk zodb backup) to many moments, as the writer logged them', async () => {
    const root = tempDir('bk-asof-backup-')
    const fsDir = join(root, 'var', 'filestorage')
    mkdirSync(fsDir, {recursive: true})
    const datafs = join(fsDir, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    const log: Logged[] = []
    const site = await resolveSite({datafs: [datafs], 'backup-blobs': false}, root)
    // full, incremental, incremental, full (a scheduled one, no pack), incremental — a second apart each
    for (const [i, full] of [true, false, false, true, false].entries()) {
      for (let t = 0; t < 12; t++) {
        commit(db, datafs, log, [0, 1 + ((i * 12 + t) % 17)])
        if (t % 4 === 0) await sleep(3)
      }
      await backupSite(site, {mode: 'backup', full})
      await sleep(1050)
    }
    // transactions after the last backup are not in any backup: a later TIME gives the newest chain's end
    const whole = readFileSync(datafs)
    const backedUp = log.slice()
    commit(db, datafs, log, [3])
    const target = join(tempDir('bk-asof-target-'), 'var', 'filestorage', 'Data.fs')
    const targetSite = await resolveSite(
      {datafs: [target], location: join(root, 'var', 'backups'), 'backup-blobs': false},
      root,
    )
    for (const moment of randomMoments(backedUp, 14)) {
      const r = await restoreSite(targetSite, {mode: 'backup', asOf: moment})
      await expectAsOf(target, whole, backedUp, moment)
      const fs = r.storages[0]!.filestorage!
      expect(fs.index).toBe('rebuilt')
      expect(fs.asOf?.kept).toBe(backedUp.filter((t) => t.time <= moment).length)
    }
  })

  it('restores the location `bk zodb follow` writes, through the CLI, to moments of a live writer', async () => {
    const {datafs, repo, env, db} = followWorkspace('bk-asof-follow-')
    const log: Logged[] = []
    for (let i = 0; i < 5; i++) commit(db, datafs, log, [0, i + 1])
    const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => f.shippedEnd === db.size, 'the full backup')
    for (let i = 0; i < 120; i++) {
      commit(db, datafs, log, [0, 1 + (i % 40)])
      await sleep(10)
    }
    const stop = await f.stop('SIGTERM')
    expect(stop.code, f.stderr).toBe(0)
    const whole = readFileSync(datafs)
    const target = join(tempDir('bk-asof-follow-target-'), 'var', 'filestorage', 'Data.fs')
    const args = ['--datafs', target, '--location', repo, '--no-backup-blobs', '-y']
    const moments = randomMoments(log, 8)
    for (const [i, moment] of moments.entries()) {
      // ISO with a zone, ISO without one (UTC), and a repozo-style stamp
      const text = i % 2 === 0 ? moment.toISOString() : moment.toISOString().replace('Z', '')
      const r = await runBk(['zodb', 'restore', '--as-of', text, ...args, '--json'], {env})
      expect(r.exitCode, r.stderr).toBe(0)
      const doc = r.json<{date: string; storages: {filestorage: {asOf: {kept: number}}}[]}>()
      expect(doc.date).toBe(moment.toISOString())
      expect(doc.storages[0]!.filestorage.asOf.kept).toBe(log.filter((t) => t.time <= moment).length)
      await expectAsOf(target, whole, log, moment)
    }
    // a repozo-style stamp means the start of that second (UTC)
    const second = new Date(Math.floor(log[60]!.time.getTime() / 1000) * 1000)
    const stamp = second.toISOString().slice(0, 19).replace('T', '-').replaceAll(':', '-')
    const r = await runBk(['zodb', 'restore', '--as-of', stamp, ...args, '-q'], {env})
    expect(r.exitCode, r.stderr).toBe(0)
    await expectAsOf(target, whole, log, second)
  })

  it('a TIME before the full backup that follows a pack: the plan warns and names the end of the earlier chain', async () => {
    const root = tempDir('bk-asof-pack-')
    const fsDir = join(root, 'var', 'filestorage')
    mkdirSync(fsDir, {recursive: true})
    const datafs = join(fsDir, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    const site = await resolveSite({datafs: [datafs], 'backup-blobs': false}, root)
    const at = (minute: number) => () => new Date(Date.UTC(2030, 0, 1, 0, minute))
    db.commit({oids: [0, 1], size: 50})
    await backupSite(site, {mode: 'backup', now: at(0)})
    db.commit({oids: [1], size: 50})
    await backupSite(site, {mode: 'backup', now: at(1)})
    db.pack()
    await backupSite(site, {mode: 'backup', now: at(3)})
    const {planRestoreAsOf} = await import('../src/restore.js')
    const repo = join(root, 'var', 'backups')
    const p = await planRestoreAsOf(repo, new Date(Date.UTC(2030, 0, 1, 0, 2)))
    expect(p.chain.files.map((f) => f.name)).toEqual(['2030-01-01-00-03-00.fsz'])
    expect(p.warning).toContain('is before the full backup 2030-01-01-00-03-00.fsz')
    expect(p.warning).toContain('restore 2030-01-01-00-01-00')
    const inChain = await planRestoreAsOf(repo, new Date(Date.UTC(2030, 0, 1, 0, 0, 30)))
    expect(inChain.chain.files.map((f) => f.name)).toEqual(['2030-01-01-00-00-00.fsz', '2030-01-01-00-01-00.deltafsz'])
    expect(inChain.warning).toBeUndefined()
  })

  it('--dry-run names the cut; a date and --as-of together, or a bad time, are one-line errors', async () => {
    const root = tempDir('bk-asof-cli-')
    const fsDir = join(root, 'var', 'filestorage')
    mkdirSync(fsDir, {recursive: true})
    const datafs = join(fsDir, 'Data.fs')
    const db = SyntheticStorage.open(datafs)
    db.commit({oids: [0, 1], size: 100})
    await backupSite(await resolveSite({datafs: [datafs], 'backup-blobs': false}, root), {mode: 'backup'})
    const before = readFileSync(datafs)
    const args = ['--datafs', datafs, '--no-backup-blobs']
    const dry = await runBk(['zodb', 'restore', '--as-of', '2020-01-01T00:00:00Z', ...args, '--dry-run'])
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toContain('cut after the last transaction at or before 2020-01-01T00:00:00.000Z')
    expect(readFileSync(datafs).equals(before)).toBe(true)
    const both = await runBk(['zodb', 'restore', '2030-01-01', '--as-of', '2020-01-01T00:00:00Z', ...args, '-y'])
    expect(both.exitCode).toBe(1)
    expect(both.stderr.trim().split('\n')).toHaveLength(1)
    expect(both.stderr).toContain('give a date or --as-of, not both')
    const bad = await runBk(['zodb', 'restore', '--as-of', 'yesterday', ...args, '-y'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toContain("invalid time 'yesterday'")
    expect(readFileSync(datafs).equals(before)).toBe(true)
  })
})
