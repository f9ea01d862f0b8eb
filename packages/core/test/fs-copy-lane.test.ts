// copyTree's copy lane (a worker thread that copies small files in batches once a tree has more than a few hundred):
// every file's bytes, mode, owner and mtime as the source's, onFile once per file with its size, and a failure
// there fails the whole copy and leaves nothing behind. Contents asserted, never timings.
import {
  chmodSync,
  chownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {copyTree} from '../src/fs/index.js'
import {cleanupTemp, rejection, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const isRoot = process.getuid?.() === 0

/** `n` small files, one per folder as in a blob storage, with modes the umask would narrow and odd mtimes. */
function makeBlobs(root: string, n: number): Map<string, number> {
  const sizes = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const rel = `0x${(i >> 8).toString(16)}/0x${(i & 255).toString(16)}/${i}.blob`
    mkdirSync(join(root, rel, '..'), {recursive: true})
    const body = Buffer.alloc((i * 131) % 9000, i % 251)
    writeFileSync(join(root, rel), body)
    if (i % 7 === 0) chmodSync(join(root, rel), 0o444)
    if (i % 11 === 0) chmodSync(join(root, rel), 0o666) // group/other write: the umask takes it away at creation
    if (i % 13 === 0) chmodSync(join(root, rel), 0o2755) // setgid
    if (isRoot && i % 17 === 0) chownSync(join(root, rel), 1234, 5678)
    utimesSync(join(root, rel), 1_600_000_000 + i + 0.123, 1_500_000_000 + i + 0.456)
    sizes.set(rel, body.length)
  }
  // the folders: odd modes (setgid, one the umask would narrow), owners, and times set after their contents
  for (let i = 0; i < n; i++) {
    const leaf = join(root, `0x${(i >> 8).toString(16)}/0x${(i & 255).toString(16)}`)
    if (i % 5 === 0) chmodSync(leaf, 0o750)
    if (i % 9 === 0) chmodSync(leaf, 0o2775)
    if (isRoot && i % 19 === 0) chownSync(leaf, 4321, 8765)
    utimesSync(leaf, 1_400_000_000 + i + 0.789, 1_300_000_000 + i + 0.321)
  }
  return sizes
}

describe('copyTree of many small files (copy lane)', () => {
  it('copies every file with its bytes, mode, owner and millisecond mtime, and calls onFile once each', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    const sizes = makeBlobs(src, 1500)
    const seen = new Map<string, number>()
    let last = 0
    const result = await copyTree(src, join(dir, 'dest'), {
      preserveOwners: isRoot,
      onFile: (path, target, size) => {
        expect(seen.has(path)).toBe(false)
        expect(target.endsWith(`/${path}`)).toBe(true) // in the stage beside dest
        seen.set(path, size)
        // a promise returned holds the copy back: resolved later, the copy still waits for it
        return i++ % 100 === 0 ? new Promise((resolve) => setTimeout(resolve, 5)) : undefined
      },
      onProgress: (bytes) => (last = bytes),
    })
    expect(snapshot(join(dir, 'dest'))).toEqual(snapshot(src))
    expect(seen).toEqual(sizes)
    const total = [...sizes.values()].reduce((a, b) => a + b, 0)
    expect(result.files).toBe(1500)
    expect(result.bytes).toBe(total)
    expect(last).toBe(total)
    // files and their folders (whose metadata is set in two halves, one by each thread) to the millisecond
    for (const rel of [...sizes.keys()].filter((_, k) => k % 97 === 0)) {
      for (const path of [rel, join(rel, '..')]) {
        const a = lstatSync(join(src, path))
        const b = lstatSync(join(dir, 'dest', path))
        expect(Math.round(b.mtimeMs)).toBe(Math.round(a.mtimeMs))
        expect(b.mode).toBe(a.mode)
      }
    }
  })

  it('laneThreads: 0 copies the same tree with no lane thread (the process gains none while it copies)', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeBlobs(src, 1200)
    const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1])
    const gained = async (dest: string, laneThreads?: number) => {
      let first = 0
      let most = 0
      await copyTree(src, dest, {
        preserveOwners: isRoot,
        ...(laneThreads === undefined ? {} : {laneThreads}),
        onFile: () => {
          if (first === 0) first = threads()
          most = Math.max(most, threads())
        },
      })
      expect(snapshot(dest)).toEqual(snapshot(src))
      return most - first
    }
    // the thread pool's threads exist before the copy (a slow run of copies goes there); with the default lane the
    // same copy gains its two threads once a few hundred files are copied (not asserted: a loaded machine's slow
    // copies may go to the pool instead)
    await readFile(join(src, '0x0/0x0/0.blob'))
    expect(await gained(join(dir, 'no-lane'), 0)).toBe(0)
  })

  it('times are kept to the microsecond on every path, never rounded into the next second', async () => {
    // 0.4 ms before a second's end: a Date (whole milliseconds, rounded) made the copies a second newer
    const when = 1_700_000_000.9996
    const dir = temp()
    const src = join(dir, 'src')
    mkdirSync(join(src, 'many'), {recursive: true})
    // enough small files for the lane, one large file (the thread pool's copy), a folder and a symlink
    for (let i = 0; i < 400; i++) writeFileSync(join(src, 'many', `f${i}`), `${i}`)
    writeFileSync(join(src, 'large'), Buffer.alloc(256 * 1024, 7))
    symlinkSync('large', join(src, 'link'))
    for (const name of readdirSync(join(src, 'many'))) utimesSync(join(src, 'many', name), when, when)
    utimesSync(join(src, 'large'), when, when)
    lutimesSync(join(src, 'link'), when, when)
    utimesSync(join(src, 'many'), when, when)
    await copyTree(src, join(dir, 'dest'))
    const paths = ['many', 'large', 'link', ...readdirSync(join(src, 'many')).map((n) => `many/${n}`)]
    for (const path of paths) {
      const a = lstatSync(join(src, path)).mtimeMs
      const b = lstatSync(join(dir, 'dest', path)).mtimeMs
      expect(Math.floor(b / 1000), path).toBe(Math.floor(a / 1000))
      expect(Math.abs(b - a), path).toBeLessThan(0.001)
    }
  })

  it('a file the lane cannot write fails the whole copy with its name, and nothing is left', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeBlobs(src, 800)
    // last in walk order (so in the lane): a path that fits under src but not under the longer stage name beside
    // dest (ENAMETOOLONG)
    let deep = join(src, 'zz')
    while (deep.length < 4000) deep = join(deep, 'n'.repeat(Math.min(200, 4000 - deep.length)))
    mkdirSync(deep, {recursive: true})
    writeFileSync(join(deep, 'z'.repeat(4090 - deep.length - 1)), 'too deep for the stage\n')
    const error = await rejection(copyTree(src, join(dir, 'dest-with-a-longer-name')))
    expect(error.message).toMatch(/copying .* failed: .*ENAMETOOLONG.*zzzz/)
    expect(readdirSync(dir)).toEqual(['src'])
  })
})

let i = 0
