// The follower's gzip shipments (.fsz / .deltafsz), written by writeAll from the compressor's output: a full and
// incremental ones restore byte for byte; a full disk while the copy loop feeds the compressor stops the follower
// with the one-line error, not a hang on a drain that never comes nor an unhandled rejection.
import {spawnSync} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {expect, it} from 'vitest'
import {FollowProcess, followWorkspace, restored, sleep, tinyLocation} from './follow-helpers.js'

it('ships gzip files that restore to the Data.fs byte for byte', async () => {
  const {datafs, repo, env, db} = followWorkspace()
  // more than one 256 KiB write piece of compressed (random) bytes in the full backup
  for (let i = 0; i < 12; i++) db.commit({oids: [0, 1, 2 + i], size: 64 * 1024})
  const f = new FollowProcess([datafs, '--location', repo, '--gzip', '--json'], env)
  await f.until(() => f.shippedEnd === db.size, 'the full backup')
  for (let i = 0; i < 20; i++) {
    db.commit({oids: [0, 1, 2 + (i % 7)], size: 100 + i * 1000})
    await sleep(10)
  }
  const stop = await f.stop('SIGTERM')
  expect(stop.code, f.stderr).toBe(0)
  const data = readFileSync(datafs)
  const names = readdirSync(repo).sort()
  const full = names.filter((n) => n.endsWith('.fsz'))
  const deltas = names.filter((n) => n.endsWith('.deltafsz'))
  expect(full).toHaveLength(1)
  expect(deltas.length).toBeGreaterThanOrEqual(1)
  expect(names.filter((n) => /\.(delta)?fs$/.test(n))).toEqual([])
  // each file is whole gzip (its trailer's CRC checked), and together they are the Data.fs
  const joined = Buffer.concat([...full, ...deltas].map((n) => gunzipSync(readFileSync(join(repo, n)))))
  expect(joined.equals(data)).toBe(true)
  expect((await restored(repo)).equals(data)).toBe(true)
}, 60_000)

it('a full disk during a gzip shipment stops the follower with a clear error', async (ctx) => {
  const {datafs, repo, env, db} = followWorkspace()
  // 3 MiB of random pickles: the full backup's gzip does not fit in 1 MiB
  for (let i = 0; i < 48; i++) db.commit({oids: [0, 1, 2 + i], size: 64 * 1024})
  if (!tinyLocation(repo)) {
    ctx.skip()
    return
  }
  try {
    const f = new FollowProcess([datafs, '--location', repo, '--gzip', '--json'], env)
    const timer = setTimeout(() => f.child.kill('SIGKILL'), 60_000)
    const exit = await f.exited
    clearTimeout(timer)
    expect(exit.signal).toBe(null) // not killed by the guard above: it stopped by itself
    expect(exit.code).toBe(1)
    expect(f.stderr).toMatch(/no space left in .*was discarded/)
    expect(f.stderr).not.toMatch(/unhandled|UnhandledPromiseRejection/i)
    expect(readdirSync(repo).filter((n) => n.startsWith('.') || n.endsWith('.fsz'))).toEqual([])
  } finally {
    spawnSync('umount', [repo])
  }
}, 120_000)
