// `bk zodb follow` as a real process against a Data.fs appended to by a writer (SyntheticStorage: well-formed
// FileStorage transactions, as the fixtures make them). Contents are asserted (restored bytes, .dat ranges),
// never times: the test polls for the shipped state with a generous timeout.
import {spawnSync} from 'node:child_process'
import {closeSync, copyFileSync, existsSync, openSync, readdirSync, readFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {readIndexPos} from '../src/fsindex.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'
import {datLines, FollowProcess, followWorkspace, restored, sleep, tinyLocation} from './follow-helpers.js'

const setup = () => followWorkspace()

/** Commits `n` transactions, one every ~`every` ms. */
async function write(db: SyntheticStorage, n: number, every = 10, from = 0): Promise<void> {
  for (let i = 0; i < n; i++) {
    db.commit({oids: [0, 1, 2 + ((from + i) % 50)], size: 100 + ((from + i) % 7) * 30})
    if (every) await sleep(every)
  }
}

/** Where the newest chain of the location ends (-1: nothing shipped). */
function locationEnd(repo: string): number {
  if (!existsSync(repo)) return -1
  return datLines(repo).at(-1)?.lines.at(-1)?.[2] ?? -1
}

/** The ranges of every chain are contiguous from 0: nothing shipped twice, nothing skipped. */
function expectContiguous(repo: string): void {
  for (const {lines} of datLines(repo)) {
    let end = 0
    for (const [name, start, stop] of lines) {
      expect(start, name).toBe(end)
      expect(stop, name).toBeGreaterThan(start)
      end = stop
    }
  }
}

describe('bk zodb follow', () => {
  it('ships a writer’s transactions as a repozo chain; after SIGTERM the restore is the Data.fs byte for byte', async () => {
    const {datafs, repo, env, db} = setup()
    await write(db, 5, 0)
    const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => f.shippedEnd === db.size, 'the full backup')
    await write(db, 150, 10, 5)
    const stop = await f.stop('SIGTERM')
    expect(stop.code, f.stderr).toBe(0)
    const data = readFileSync(datafs)
    // the clean stop shipped everything complete
    expect((await restored(repo)).equals(data)).toBe(true)

    const shipments = f.shipments
    expect(shipments[0]!.kind).toBe('full')
    expect(shipments.slice(1).every((s) => s.kind === 'incremental')).toBe(true)
    expect(shipments.length).toBeGreaterThanOrEqual(2)
    expect(shipments.reduce((n, s) => n + s.bytes, 0)).toBe(data.length)
    const tlen = Number(data.readBigUInt64BE(data.length - 8))
    const lastTid = data.subarray(data.length - 8 - tlen, data.length - tlen).toString('hex')
    expect(shipments.at(-1)!.shipped).toBe(lastTid)
    const final = JSON.parse(f.stdout.trim().split('\n').at(-1)!)
    expect(final).toMatchObject({kind: 'operation', app: 'zodb', shipments: shipments.length, end: data.length})

    // the repository: one chain, contiguous, each backup with its .index at its end
    const chains = datLines(repo)
    expect(chains).toHaveLength(1)
    expectContiguous(repo)
    for (const [name, , end] of chains[0]!.lines) {
      expect(await readIndexPos(join(repo, `${name.slice(0, 19)}.index`))).toBe(end)
    }
    // every intermediate shipped point restores to a prefix of the Data.fs
    const middle = chains[0]!.lines[1]!
    expect((await restored(repo, middle[0].slice(0, 19))).equals(data.subarray(0, middle[2]))).toBe(true)

    const status = await runBk(['zodb', 'follow', datafs, '--location', repo, '--status', '--json'], {env})
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.json()).toMatchObject({ok: true, shippedBytes: data.length, behind: {bytes: 0, transactions: 0}})
    await write(db, 3, 0, 200)
    const behind = await runBk(['zodb', 'follow', datafs, '--location', repo, '--status'], {env})
    expect(behind.stdout).toMatch(/Behind .* by 3 transaction\(s\)/)
  }, 120_000)

  it('never ships a torn or unfinished transaction at the tail, and resumes where it stopped', async () => {
    const {datafs, repo, env, db} = setup()
    await write(db, 10, 0)
    const complete = db.size
    // a voted but unfinished commit ('c') at the tail
    db.commit({oids: [7, 8], size: 500, unfinished: true})
    let f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => f.shippedEnd === complete, 'the full backup')
    expect((await f.stop()).code).toBe(0)
    expect((await restored(repo)).equals(readFileSync(datafs).subarray(0, complete))).toBe(true)

    // a half-written transaction: the first half of a real one's bytes
    db.truncateToEnd()
    // the bytes of the next real transaction, made on a copy at the same offset
    const copy = join(tempDir(), 'copy.fs')
    copyFileSync(datafs, copy)
    const scratch = SyntheticStorage.open(copy)
    scratch.commit({oids: [3], size: 400})
    const whole = readFileSync(copy).subarray(complete)
    const fd = openSync(datafs, 'r+')
    writeSync(fd, whole.subarray(0, whole.length >> 1), 0, undefined, complete)
    f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => f.stderr.includes('resuming') || f.stdout.includes('resuming'), 'the resume')
    await sleep(300)
    expect((await f.stop()).code).toBe(0)
    expect(f.shipments).toEqual([]) // nothing complete was new
    expect(datLines(repo)[0]!.lines).toHaveLength(1)
    expect((await restored(repo)).equals(readFileSync(datafs).subarray(0, complete))).toBe(true)

    // the writer finishes: the same transaction whole, then more
    writeSync(fd, whole, 0, undefined, complete)
    closeSync(fd)
    f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => f.shippedEnd === complete + whole.length, 'the completed transaction')
    expect((await f.stop()).code).toBe(0)
    expect(datLines(repo)).toHaveLength(1) // resumed the chain, no new full
    expectContiguous(repo)
    expect((await restored(repo)).equals(readFileSync(datafs))).toBe(true)
  }, 120_000)

  it('starts a new full backup when the Data.fs is packed', async () => {
    const {datafs, repo, env, db} = setup()
    await write(db, 20, 0)
    const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => f.shippedEnd === db.size, 'the full backup')
    await write(db, 5, 0, 20)
    await f.until(() => f.shippedEnd === db.size, 'an incremental')
    const before = readFileSync(datafs)
    db.pack()
    await f.until(() => f.shipments.filter((s) => s.kind === 'full').length === 2, 'the full after the pack')
    await write(db, 5, 0, 40)
    await f.until(() => f.shippedEnd === db.size && f.shipments.at(-1)!.kind === 'incremental', 'an incremental')
    expect((await f.stop()).code).toBe(0)
    const chains = datLines(repo)
    expect(chains).toHaveLength(2)
    expectContiguous(repo)
    expect((await restored(repo)).equals(readFileSync(datafs))).toBe(true)
    // the old chain still restores the state before the pack
    const oldEnd = chains[0]!.lines.at(-1)!
    expect((await restored(repo, oldEnd[0].slice(0, 19))).equals(before)).toBe(true)
  }, 120_000)

  it('after kill -9 at random moments, resumes: nothing shipped twice, nothing lost', async () => {
    const {datafs, repo, env, db} = setup()
    await write(db, 5, 0)
    let written = 5
    for (let round = 0; round < 3; round++) {
      const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
      const writing = write(db, 60, 10, written)
      written += 60
      await f.until(() => f.shipments.length >= 1, 'a shipment')
      await sleep(Math.floor(Math.random() * 800))
      expect((await f.stop('SIGKILL')).signal).toBe('SIGKILL')
      await writing
    }
    const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
    await f.until(() => locationEnd(repo) === db.size && /resuming|shipped/.test(f.stderr + f.stdout), 'the catch-up')
    expect((await f.stop()).code).toBe(0)
    expect(datLines(repo)).toHaveLength(1) // every restart resumed the one chain
    expectContiguous(repo)
    expect(readdirSync(repo).filter((n) => n.includes('bk-partial'))).toEqual([])
    expect((await restored(repo)).equals(readFileSync(datafs))).toBe(true)
  }, 180_000)

  // Crash matrix: the follower dies (SIGKILL) at each publishing step; the next run recovers and loses nothing.
  for (const point of ['zodb-follow-full-index', 'zodb-follow-full-dat', 'zodb-follow-index', 'zodb-follow-dat']) {
    it(`crash at ${point}: the location stays a valid chain and the next run completes it`, async () => {
      const {datafs, repo, env, db} = setup()
      await write(db, 8, 0)
      const full = point.includes('full')
      if (!full) {
        const f0 = new FollowProcess([datafs, '--location', repo, '--json'], env)
        await f0.until(() => f0.shippedEnd === db.size, 'the full backup')
        expect((await f0.stop()).code).toBe(0)
        await write(db, 4, 0, 8)
      }
      const shippedBefore = existsSync(repo) ? datLines(repo) : []
      const crash = new FollowProcess([datafs, '--location', repo, '--json'], {...env, BK_CRASH_AT: point})
      const died = await crash.exited
      expect(died.signal).toBe('SIGKILL')
      const committed = point.endsWith('-dat')
      // before the .dat: the location is exactly as before; after it: the shipment is complete
      if (!committed) expect(existsSync(repo) ? datLines(repo) : []).toEqual(shippedBefore)
      else
        expect(
          datLines(repo)
            .flatMap((c) => c.lines)
            .at(-1)![2],
        ).toBe(db.size)
      const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
      await f.until(() => locationEnd(repo) === db.size && /resuming|shipped/.test(f.stderr + f.stdout), 'the next run')
      expect((await f.stop()).code).toBe(0)
      if (!committed) expect(f.stderr).toMatch(/removed .*not recorded in its \.dat/)
      expect(datLines(repo)).toHaveLength(1)
      expectContiguous(repo)
      expect(readdirSync(repo).filter((n) => n.startsWith('.'))).toEqual([])
      const names = readdirSync(repo).filter((n) => /\.(delta)?fs$/.test(n))
      expect(names).toHaveLength(datLines(repo)[0]!.lines.length) // no unrecorded file left
      expect((await restored(repo)).equals(readFileSync(datafs))).toBe(true)
    }, 60_000)
  }

  it('a full disk stops the follower with a clear error and leaves only whole shipments', async (ctx) => {
    const {datafs, repo, env, db} = setup()
    if (!tinyLocation(repo)) {
      ctx.skip()
      return
    }
    try {
      await write(db, 400, 0)
      const f = new FollowProcess([datafs, '--location', repo, '--json'], env)
      await f.until(() => f.shippedEnd === db.size, 'the full backup')
      let i = 400
      while (f.child.exitCode === null && i < 4000) {
        await write(db, 20, 5, i)
        i += 20
      }
      const exit = await f.exited
      expect(exit.code).toBe(1)
      expect(f.stderr).toMatch(/no space left in .*was discarded/)
      expectContiguous(repo)
      const names = readdirSync(repo)
      expect(names.filter((n) => n.startsWith('.'))).toEqual([])
      const lines = datLines(repo)[0]!.lines
      expect(names.filter((n) => /\.(delta)?fs$/.test(n))).toHaveLength(lines.length)
      expect((await restored(repo)).equals(readFileSync(datafs).subarray(0, lines.at(-1)![2]))).toBe(true)
    } finally {
      spawnSync('umount', [repo])
    }
  }, 120_000)

  it('refuses a second follower on the same location, naming the first', async () => {
    const {datafs, repo, env, db} = setup()
    await write(db, 3, 0)
    const f = new FollowProcess([datafs, '--location', repo], env)
    await f.until(() => f.stdout.includes('shipped'), 'the full backup')
    const second = await runBk(['zodb', 'follow', datafs, '--location', repo], {env})
    expect(second.exitCode).not.toBe(0)
    expect(second.stderr).toMatch(new RegExp(`pid ${f.child.pid}|${f.child.pid}`))
    expect((await f.stop('SIGINT')).code).toBe(0)
  }, 60_000)

  it('--print-unit prints a systemd unit; --dry-run plans and changes nothing', async () => {
    const {datafs, repo, env, db} = setup()
    await write(db, 3, 0)
    const unit = await runBk(['zodb', 'follow', datafs, '--location', repo, '--print-unit'], {env})
    expect(unit.exitCode, unit.stderr).toBe(0)
    expect(unit.stdout).toMatch(/^\[Unit\]/)
    expect(unit.stdout).toContain(`zodb follow ${datafs} --location ${repo}`)
    expect(unit.stdout).toMatch(/KillSignal=SIGTERM/)
    expect(unit.stdout).toMatch(/WantedBy=multi-user.target/)
    const dry = await runBk(['zodb', 'follow', datafs, '--location', repo, '--dry-run'], {env})
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^Plan: follow /)
    expect(dry.stdout).toContain('Nothing was changed (--dry-run).')
    expect(existsSync(repo)).toBe(false)
  }, 60_000)
})
