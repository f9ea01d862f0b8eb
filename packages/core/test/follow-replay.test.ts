import {createHash, randomBytes} from 'node:crypto'
import {closeSync, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {replayFrames} from '../src/follow/sqlite/replay.js'
import {buildFollowedDb} from '../src/follow/sqlite/restore.js'
import {FRAME_HEADER_LEN} from '../src/follow/sqlite/wal.js'

const PAGE = 512

/** A seeded generator (mulberry32): a failing case can be run again. */
function random(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

/** Frames (header: page number, commit size; then the page) as a segment holds them. */
function segment(frames: {page: number; commit: number}[]): Buffer {
  return Buffer.concat(
    frames.map(({page, commit}) => {
      const header = Buffer.alloc(FRAME_HEADER_LEN)
      header.writeUInt32BE(page, 0)
      header.writeUInt32BE(commit, 4)
      return Buffer.concat([header, randomBytes(PAGE)])
    }),
  )
}

/** The replay as restore did it before: every frame in order, written, and truncated at each commit. */
function replayInOrder(fd: number, frames: Buffer, last: number): void {
  const frameLen = FRAME_HEADER_LEN + PAGE
  for (let i = 0; i <= last; i++) {
    const at = i * frameLen
    writeSync(fd, frames, at + FRAME_HEADER_LEN, PAGE, (frames.readUInt32BE(at) - 1) * PAGE)
    const size = frames.readUInt32BE(at + 4)
    if (size > 0) ftruncateSync(fd, size * PAGE)
  }
}

/**
 * Two copies of `initial` (seed `seed` in `dir`), one replayed frame by frame and one by replayFrames (`replay` gets
 * their descriptors and returns replayFrames' size): the same bytes, and that size the file's.
 */
function sameBytes(
  dir: string,
  seed: number,
  initial: Buffer,
  replay: (inOrder: number, ours: number) => number,
): void {
  const expected = join(dir, `${seed}.expected`)
  const actual = join(dir, `${seed}.actual`)
  writeFileSync(expected, initial)
  writeFileSync(actual, initial)
  const e = openSync(expected, 'r+')
  const a = openSync(actual, 'r+')
  let size: number
  try {
    size = replay(e, a)
  } finally {
    closeSync(e)
    closeSync(a)
  }
  const want = readFileSync(expected)
  expect({seed, size, bytes: readFileSync(actual).equals(want)}).toEqual({seed, size: want.length, bytes: true})
}

describe('replayFrames', () => {
  it('leaves the bytes a replay of every frame in order leaves: rewrites, shrinking and growing commits', () => {
    const dir = tempDir()
    let rewritten = 0
    for (let seed = 1; seed <= 400; seed++) {
      const r = random(seed)
      const initial = randomBytes(r(24) * PAGE)
      const count = 1 + r(60)
      const frames = Array.from({length: count}, (_, i) => ({
        // a few hot pages and a wide range: rewrites, holes, pages past a later commit's size
        page: r(3) === 0 ? 1 + r(3) : 1 + r(32),
        commit: i === count - 1 || r(4) === 0 ? 1 + r(32) : 0,
      }))
      if (new Set(frames.map((f) => f.page)).size < frames.length) rewritten++
      const data = segment(frames)
      // a manifest may replay up to an earlier commit (--as-of): the frames after it are not applied
      const commits = frames.flatMap((f, i) => (f.commit > 0 ? [i] : []))
      const last = commits[r(commits.length)]!
      sameBytes(dir, seed, initial, (e, a) => {
        replayInOrder(e, data, last)
        return replayFrames(a, initial.length, data, PAGE, last, `${seed}.actual`)
      })
    }
    expect(rewritten).toBeGreaterThan(300) // most cases rewrite a page: the newest image is what counts
  })

  it('leaves the same bytes over several segments in a row, the size carried from one to the next', () => {
    const dir = tempDir()
    for (let seed = 1; seed <= 150; seed++) {
      const r = random(seed * 7919)
      const initial = randomBytes(r(16) * PAGE)
      sameBytes(dir, seed, initial, (e, a) => {
        let size = initial.length
        for (let s = 1 + r(4); s > 0; s--) {
          const count = 1 + r(20)
          const frames = Array.from({length: count}, (_, i) => ({
            page: 1 + r(20),
            commit: i === count - 1 || r(3) === 0 ? 1 + r(20) : 0,
          }))
          // frames after the last commit replayed (a transaction not committed yet, or past --as-of) are left out
          const commits = frames.flatMap((f, i) => (f.commit > 0 ? [i] : []))
          const last = commits[r(commits.length)]!
          const data = segment(frames)
          replayInOrder(e, data, last)
          size = replayFrames(a, size, data, PAGE, last, `${seed}.actual`)
        }
        return size
      })
    }
  })

  /** replayFrames on a 4-page file refuses `frames` up to `last` with `message`, the file left as it was. */
  function refused(frames: {page: number; commit: number}[], last: number, message: string): void {
    const file = join(tempDir(), 'db')
    const initial = randomBytes(4 * PAGE)
    writeFileSync(file, initial)
    const fd = openSync(file, 'r+')
    try {
      expect(() => replayFrames(fd, initial.length, segment(frames), PAGE, last, 'seg-1.wal')).toThrow(
        `seg-1.wal: ${message}; the location is damaged (run --verify)`,
      )
    } finally {
      closeSync(fd)
    }
    expect(readFileSync(file).equals(initial)).toBe(true)
  }

  it('refuses a last commit that is not a commit frame, or past the segment, before writing anything', () => {
    const frames = [
      {page: 1, commit: 0},
      {page: 2, commit: 3},
    ]
    refused(frames, 0, "its manifest's last commit (frame 0) is not a commit frame")
    refused(frames, 2, "its manifest's last commit (frame 2) is past its end")
  })

  it('refuses a frame of page 0 (no page of SQLite): a write at a negative offset lands at the file position', () => {
    const frames = [
      {page: 2, commit: 0},
      {page: 0, commit: 0},
      {page: 3, commit: 4},
    ]
    refused(frames, 2, 'its frame 1 names page 0')
  })

  it('restore goes through a generation of more segments than a call takes arguments (a busy day)', async () => {
    const dir = tempDir()
    const snapshot = randomBytes(2 * PAGE)
    writeFileSync(join(dir, 'snapshot.db'), snapshot)
    writeFileSync(join(dir, 'seg.wal'), '')
    const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')
    // every one of them empty, its manifest's commit past its end: the first is refused as damaged
    const manifest = {file: 'seg.wal', sha256: sha256(''), bytes: 0, pageSize: PAGE, commits: [{frame: 0}]}
    const chosen = {
      generation: 'g',
      dir,
      snapshot: {file: 'snapshot.db', sha256: sha256(snapshot), bytes: snapshot.length},
      segments: Array.from({length: 300_000}, () => ({manifest, commits: 1})),
      commits: 300_000,
      restoredTo: '',
    }
    await expect(buildFollowedDb(chosen as never, join(dir, 'restored.db'))).rejects.toThrow(
      `${join(dir, 'seg.wal')}: its manifest's last commit (frame 0) is past its end; the location is damaged (run --verify)`,
    )
  })
})
