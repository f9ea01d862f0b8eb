// `bk zodb follow --blob-storage`: the blobs a writer commits are shipped with their transactions (hard links to
// the live, immutable blob files), a chain's blob backup is restorable with the chain by date and --as-of, and a
// restarted follower completes the folder of the chain it resumes.
import {mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {tidToDate} from '../src/filestorage.js'
import {blobPathOf, zodbRepr} from '../src/follow/blobs.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'
import {FollowProcess, sleep} from './follow-helpers.js'

const oidOf = (n: number) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

describe('bk zodb follow --blob-storage', () => {
  it('names blobs as ZODB does', () => {
    expect(zodbRepr(oidOf(0))).toBe('0x00')
    expect(zodbRepr(oidOf(0x1234))).toBe('0x1234')
    expect(zodbRepr(oidOf(0x123))).toBe('0x0123')
    expect(blobPathOf(oidOf(0x1234), Buffer.from('03d9a1b2c3d4e5f6', 'hex'), 'bushy')).toBe(
      '0x00/0x00/0x00/0x00/0x00/0x00/0x12/0x34/0x03d9a1b2c3d4e5f6.blob',
    )
    expect(blobPathOf(oidOf(0x1234), Buffer.from('03d9a1b2c3d4e5f6', 'hex'), 'lawn')).toBe(
      '0x1234/0x03d9a1b2c3d4e5f6.blob',
    )
  })

  it('ships each transaction’s blobs before its .dat line; the chain restores with its blobs, by --as-of too', async () => {
    const work = tempDir('bk-follow-blobs-')
    const datafs = join(work, 'var', 'filestorage', 'Data.fs')
    const blobs = join(work, 'var', 'blobstorage')
    mkdirSync(dirname(datafs), {recursive: true})
    mkdirSync(blobs)
    writeFileSync(join(blobs, '.layout'), 'bushy')
    const repo = join(work, 'repo')
    const blobRepo = join(work, 'repo-blobs')
    const env = {BK_LOCK_DIR: join(work, 'locks')}
    mkdirSync(env.BK_LOCK_DIR)
    const db = SyntheticStorage.open(datafs)
    const log: {time: Date; blob: string}[] = []
    /** A transaction writing a blob for `oid`, its file put in place before the commit, as ZODB does. */
    const commitBlob = (oid: number) => {
      let blob = ''
      db.commit({
        oids: [0, oid],
        size: 80,
        beforeWrite: (tid) => {
          blob = blobPathOf(oidOf(oid), tid, 'bushy')
          mkdirSync(dirname(join(blobs, blob)), {recursive: true})
          writeFileSync(join(blobs, blob), `blob of ${oid} at ${tid.toString('hex')}`)
          log.push({time: tidToDate(tid), blob})
        },
      })
      return blob
    }
    for (let i = 1; i <= 3; i++) commitBlob(i)
    const args = [datafs, '--location', repo, '--blob-storage', blobs, '--blob-location', blobRepo, '--json']
    let f = new FollowProcess(args, env)
    await f.until(() => f.shippedEnd === db.size, 'the full backup')
    for (let i = 4; i <= 40; i++) {
      commitBlob(i)
      await sleep(10)
    }
    await f.until(() => f.shippedEnd === db.size, 'the last transactions')
    expect((await f.stop('SIGTERM')).code, f.stderr).toBe(0)
    const chains = readdirSync(blobRepo)
    expect(chains).toHaveLength(1)
    const folder = join(blobRepo, chains[0]!, 'blobstorage')
    for (const {blob} of log) {
      // a hard link to the live file (same file system here)
      expect(statSync(join(folder, blob)).ino, blob).toBe(statSync(join(blobs, blob)).ino)
    }
    // blobs committed while it was stopped are placed when it resumes the chain
    const offline = commitBlob(41)
    f = new FollowProcess(args, env)
    await f.until(() => f.shippedEnd === db.size, 'the resumed shipment')
    expect((await f.stop('SIGTERM')).code, f.stderr).toBe(0)
    expect(readFileSync(join(folder, offline), 'utf8')).toBe(readFileSync(join(blobs, offline), 'utf8'))
    // restore as of a moment in the middle: every blob its records name is there
    const moment = log[20]!.time
    const target = join(tempDir('bk-follow-blobs-target-'), 'var')
    const r = await runBk(
      [
        'zodb',
        'restore',
        '--as-of',
        moment.toISOString(),
        '--datafs',
        join(target, 'filestorage', 'Data.fs'),
        '--blob-storage',
        join(target, 'blobstorage'),
        '--location',
        repo,
        '--blob-backup-location',
        blobRepo,
        '-y',
        '-q',
      ],
      {env},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    for (const {time, blob} of log.filter((t) => t.time <= moment)) {
      expect(readFileSync(join(target, 'blobstorage', blob), 'utf8'), time.toISOString()).toBe(
        readFileSync(join(blobs, blob), 'utf8'),
      )
    }
  })
})
