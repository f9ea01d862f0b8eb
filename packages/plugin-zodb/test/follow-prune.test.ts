// Retention of a `bk zodb follow` location: it is a repozo repository, so `bk zodb prune --keep N` thins it like any
// other — whole old chains go (a pack starts a new chain), the newest chain stays and still restores byte for byte.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {SyntheticStorage} from '../src/synthetic-storage.js'
import {datLines, FollowProcess, restored} from './follow-helpers.js'

describe('bk zodb prune on a follow location', () => {
  it('removes the chains before the newest N, refuses while the follower holds the location, and the rest restores', async () => {
    const work = tempDir('bk-follow-prune-')
    const datafs = join(work, 'Data.fs')
    const repo = join(work, 'repo')
    const env = {BK_LOCK_DIR: join(work, 'locks')}
    const db = SyntheticStorage.open(datafs)
    const write = (n: number, from: number) => {
      for (let i = 0; i < n; i++) db.commit({oids: [0, 1, 2 + ((from + i) % 50)], size: 100 + ((from + i) % 7) * 30})
    }
    write(20, 0)
    const f = new FollowProcess([datafs, '--location', repo, '--json', '--interval', '0.1'], env)
    const shippedTo = (end: number) => f.shippedEnd === end
    await f.until(() => shippedTo(db.size), 'the full backup')
    write(5, 20)
    await f.until(() => shippedTo(db.size), 'an incremental')
    // two packs: three chains
    for (let k = 2; k <= 3; k++) {
      db.pack()
      await f.until(() => f.shipments.filter((s) => s.kind === 'full').length === k, `full ${k}`)
      write(5, 20 * k)
      await f.until(() => shippedTo(db.size) && f.shipments.at(-1)!.kind === 'incremental', 'an incremental')
    }
    const args = ['zodb', 'prune', '--datafs', datafs, '--location', repo, '--no-backup-blobs', '--keep', '2']
    // the follower holds the location's lock: prune refuses, naming it, and changes nothing
    const busy = await runBk([...args, '-y'], {env})
    expect(busy.exitCode).not.toBe(0)
    expect(busy.stderr).toMatch(/is locked by pid \d+ \(bk zodb follow, since /)
    expect(datLines(repo)).toHaveLength(3)
    expect((await f.stop()).code).toBe(0)
    const chains = datLines(repo)
    const dry = await runBk([...args, '--dry-run', '--json'], {env})
    expect(dry.exitCode, dry.stderr).toBe(0)
    const planned = dry.json<{plan: {steps: {op: string; target: string}[]}}>().plan.steps
    expect(planned.filter((s) => s.op === 'remove').map((s) => s.target.split('/').pop())).toContain(
      chains[0]!.lines[0]![0],
    )
    expect(datLines(repo)).toEqual(chains)
    const done = await runBk([...args, '-y', '-q'], {env})
    expect(done.exitCode, done.stderr).toBe(0)
    // the oldest chain is gone whole (its full, incrementals, indexes and .dat), the newest two are untouched
    expect(datLines(repo)).toEqual(chains.slice(1))
    const oldStamp = chains[0]!.dat.replace(/\.dat$/, '')
    expect(readdirSync(repo).filter((n) => n.startsWith(oldStamp))).toEqual([])
    expect((await restored(repo)).equals(readFileSync(datafs))).toBe(true)
  }, 120_000)
})
