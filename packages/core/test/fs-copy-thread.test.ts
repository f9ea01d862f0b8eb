import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {copyTree, copyTreeInThread} from '../src/fs/index.js'

// the thread runs the built worker (dist/fs/copy-thread-worker.js): build core first
const built = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'fs', 'index.js')

/** A file's contents as `<size> <sha256>` (a deep compare of MiB Buffers takes seconds). */
const digest = (bytes: Buffer) => `${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`

/** Every entry under `root` (relative path -> the file's digest, 'dir' or 'link:<target>'). */
function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const path of (readdirSync(root, {recursive: true, encoding: 'utf8'}) as string[]).sort()) {
    const abs = join(root, path)
    const st = lstatSync(abs)
    out[path] = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? `link:${readlinkSync(abs)}` : digest(readFileSync(abs))
  }
  return out
}

/** A tree of small files in buckets, an empty one, a 1 MiB + 3 one (past the small-file path), a symlink. */
function makeTree(root: string): void {
  for (let b = 0; b < 3; b++) {
    mkdirSync(join(root, String(b)), {recursive: true})
    for (let i = 0; i < 40; i++)
      writeFileSync(join(root, String(b), `file${b * 1000 + i}`), `content ${b} ${i}\n`.repeat(i))
  }
  mkdirSync(join(root, 'deep', 'er'), {recursive: true})
  writeFileSync(join(root, 'deep', 'er', 'empty'), '')
  const big = Buffer.alloc(1024 * 1024 + 3, 'a pattern of 31 bytes, no more.')
  writeFileSync(join(root, 'deep', 'big'), big)
  symlinkSync('er/empty', join(root, 'deep', 'link'))
}

describe('copyTreeInThread', () => {
  it('copies a tree byte-identical in a worker thread, with copyTree’s counts', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    makeTree(src)
    const {files, bytes, dirs, symlinks, missed} = await copyTreeInThread(src, join(dir, 'dest')).done
    expect(treeOf(join(dir, 'dest'))).toEqual(treeOf(src))
    expect({files, dirs, symlinks, missed}).toEqual({files: 122, dirs: 5, symlinks: 1, missed: []})
    const sizes = Object.values(treeOf(src)).reduce((n, v) => n + (/^\d+ /.test(v) ? Number.parseInt(v, 10) : 0), 0)
    expect(bytes).toBe(sizes)
    expect(bytes).toBeGreaterThan(1024 * 1024)
  })

  it('with `only`, copies just the listed regular files and reports them; a symlink or missing one is left out', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    makeTree(src)
    const only = ['0/file3', '2/file2039', 'deep/big', 'deep/link', '1/missing', '0/file3/not']
    const result = await copyTreeInThread(src, join(dir, 'dest'), {only, stage: false}).done
    expect(result.missed).toEqual(['deep/link', '1/missing', '0/file3/not'])
    const copy = treeOf(join(dir, 'dest'))
    expect(Object.keys(copy).sort()).toEqual(['0', '0/file3', '1', '2', '2/file2039', 'deep', 'deep/big'])
    for (const path of ['0/file3', '2/file2039', 'deep/big'])
      expect(copy[path]).toBe(digest(readFileSync(join(src, path))))
  })

  it('rejects with the failing file named, and leaves no copy behind', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(join(src, 'sub'), {recursive: true})
    const name = 'n'.repeat(200)
    writeFileSync(join(src, 'sub', name), 'x')
    // the copy's own folder fits PATH_MAX, the file's path inside it does not (ENAMETOOLONG, also for root)
    let parent = join(dir, 'long')
    while (parent.length < 4096 - 150) parent = join(parent, 'd'.repeat(Math.min(250, 4096 - 150 - parent.length)))
    mkdirSync(parent, {recursive: true})
    const dest = join(parent, 'c')
    const failed = copyTreeInThread(src, dest).done
    await expect(failed).rejects.toThrow(name)
    await expect(failed).rejects.toMatchObject({name: 'BkError', cause: {code: 'ENAMETOOLONG'}})
    expect(existsSync(dest)).toBe(false)
    expect(readdirSync(parent)).toEqual([])
  })

  it('a source that is not a folder is refused with its path', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'file'), 'x')
    await expect(copyTreeInThread(join(dir, 'file'), join(dir, 'dest')).done).rejects.toThrow(
      `cannot copy ${join(dir, 'file')}: not a directory`,
    )
  })

  it('the thread ends when the copy does: a process that awaited it exits by itself (one run with -e too)', () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    makeTree(src)
    const script = `
      import {copyTreeInThread} from ${JSON.stringify(built)}
      const r = await copyTreeInThread(process.argv[1], process.argv[2]).done
      console.log(r.files)
    `
    // a thread still running would keep the child alive until the timeout kills it (and this throws)
    // started with --input-type (not a thread's option: it must not be passed on to the thread)
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, src, join(dir, 'dest')], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(out.trim()).toBe('122')
    expect(treeOf(join(dir, 'dest'))).toEqual(treeOf(src))
  })

  it("a process started with V8's options (node --max-semi-space-size, --stack-size) starts its threads", () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    makeTree(src)
    const script = join(dir, 'copy.mjs')
    writeFileSync(
      script,
      `import {copyTreeInThread} from ${JSON.stringify(built)}
      const r = await copyTreeInThread(process.argv[2], process.argv[3]).done
      console.log(r.files)
    `,
    )
    // a thread given them by name refuses to start ("invalid execArgv flags"); inherited, they apply to it
    const out = execFileSync(
      process.execPath,
      ['--max-semi-space-size=16', '--stack-size=2000', script, src, join(dir, 'dest')],
      {encoding: 'utf8', timeout: 60_000},
    )
    expect(out.trim()).toBe('122')
    expect(treeOf(join(dir, 'dest'))).toEqual(treeOf(src))
  })

  for (const v8 of [[], ['--max-semi-space-size=16']])
    it(`node --input-type=module -e ${v8.join(' ')}: the copy thread and the hashing thread start`, () => {
      const dir = tempDir()
      const src = join(dir, 'src')
      makeTree(src)
      const file = join(src, 'one')
      writeFileSync(file, 'one\n')
      // the hashing thread's code is a string: given --input-type=module, it was read as a module (no require);
      // given V8's option by name, every thread refused to start
      const code = `import {copyTreeInThread, fileHasher} from ${JSON.stringify(built)}
        const r = await copyTreeInThread(process.argv[1], process.argv[2]).done
        const h = fileHasher()
        const d = await h.sha256(process.argv[3])
        await h.close()
        console.log(r.files, d.sha256)`
      const out = execFileSync(
        process.execPath,
        ['--input-type=module', ...v8, '-e', code, src, join(dir, 'dest'), file],
        {encoding: 'utf8', timeout: 60_000},
      )
      expect(out.trim()).toBe(`123 ${createHash('sha256').update('one\n').digest('hex')}`)
      expect(treeOf(join(dir, 'dest'))).toEqual(treeOf(src))
    })

  it('a file of more than 8 MiB (copied by the MiB, so that a stop lands within it) is copied whole: bytes, mode, mtime', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(src)
    // not a multiple of the MiB, a different byte at each offset mod 251
    const big = Buffer.alloc(9 * 1024 * 1024 + 5)
    for (let i = 0; i < big.length; i++) big[i] = i % 251
    writeFileSync(join(src, 'big'), big, {mode: 0o640})
    utimesSync(join(src, 'big'), 1_000_000, 1_234_567.5)
    const r = await copyTreeInThread(src, join(dir, 'dest')).done
    expect(treeOf(join(dir, 'dest'))).toEqual(treeOf(src))
    expect(r.bytes).toBe(big.length)
    const [from, to] = [statSync(join(src, 'big')), statSync(join(dir, 'dest', 'big'))]
    expect([to.mode & 0o7777, to.mtimeMs]).toEqual([from.mode & 0o7777, from.mtimeMs])
  })

  it('copyTree `stopped`: asked within a big file, the copy fails as stopped and leaves nothing', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(src)
    writeFileSync(join(src, 'big'), Buffer.alloc(12 * 1024 * 1024, 7))
    for (const stage of [true, false]) {
      const dest = join(dir, `dest-${stage}`)
      // asked at the file's entry, then before each MiB of it: stopped before its fifth
      let asked = 0
      const error = await copyTree(src, dest, {stage, stopped: () => ++asked > 5}).then(
        () => undefined,
        (e: Error & {cause?: {code?: string}}) => e,
      )
      expect(error?.message).toMatch(/stopped by its caller/)
      expect(error?.cause?.code).toBe('ESTOPPED')
      expect(asked).toBe(6)
      expect(readdirSync(dir).sort()).toEqual(['src'])
    }
  })

  it('stop() ends the thread and the copy rejects as stopped', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(src)
    for (let i = 0; i < 2000; i++) writeFileSync(join(src, `f${i}`), String(i))
    const copy = copyTreeInThread(src, join(dir, 'dest'))
    await copy.stop()
    await expect(copy.done).rejects.toThrow(/was stopped/)
    expect(existsSync(join(dir, 'dest'))).toBe(false)
  })

  it('stop() at any point of a copy: stopped, or done whole; a stopped staged copy leaves nothing', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(src)
    for (let i = 0; i < 3000; i++) writeFileSync(join(src, `f${i}`), String(i))
    for (let delay = 0; delay < 200; delay += 10) {
      const dest = join(dir, `dest${delay}`)
      const copy = copyTreeInThread(src, dest)
      await new Promise((resolve) => setTimeout(resolve, delay))
      await copy.stop()
      const outcome = await copy.done.then(
        (r) => r.files,
        (e: Error) => e.message,
      )
      if (typeof outcome === 'number') {
        expect(outcome).toBe(3000)
        expect(treeOf(dest)).toEqual(treeOf(src))
      } else {
        expect(outcome).toBe(`copying ${src} to ${dest} was stopped`)
        expect(existsSync(dest)).toBe(false)
      }
    }
    // nothing of a stage left beside the copies
    expect(readdirSync(dir).filter((n) => !n.startsWith('dest') && n !== 'src')).toEqual([])
  })
})
