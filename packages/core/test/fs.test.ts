import {execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {afterAll, describe, expect, it} from 'vitest'
import {BkError} from '../src/errors.js'
import {
  copyTree,
  dirSize,
  fsyncDir,
  fsyncPath,
  hashStream,
  isEmptyDir,
  md5File,
  pathExists,
  sameOrInside,
  sha256File,
  walk,
} from '../src/fs/index.js'
import {cleanupTemp, isRoot, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)

const digest = (algo: string, data: Buffer) => createHash(algo).update(data).digest('hex')

describe('walk', () => {
  it('is sorted, lists directories before their contents, does not follow symlinks', async () => {
    const dir = temp()
    mkdirSync(join(dir, 'b/sub'), {recursive: true})
    writeFileSync(join(dir, 'b/sub/z'), 'z')
    writeFileSync(join(dir, 'a'), 'a')
    writeFileSync(join(dir, 'B'), 'B')
    writeFileSync(join(dir, 'b/a'), 'a')
    symlinkSync('b', join(dir, 'link'))
    const seen: string[] = []
    for await (const e of walk(dir))
      seen.push(`${e.path}${e.stat.isDirectory() ? '/' : e.stat.isSymbolicLink() ? '@' : ''}`)
    expect(seen).toEqual(['B', 'a', 'b/', 'b/a', 'b/sub/', 'b/sub/z', 'link@'])
    const filtered: string[] = []
    for await (const e of walk(dir, {filter: (p) => p !== 'b/sub'})) filtered.push(e.path)
    expect(filtered).toEqual(['B', 'a', 'b', 'b/a', 'link'])
    for await (const e of walk(dir)) expect(e.abs).toBe(join(dir, e.path))
  })
})

describe('hashes', () => {
  it('sha256File of a file that grew after its open reads in large blocks, not one byte at a time', async () => {
    const dir = temp()
    const file = join(dir, 'grown')
    const data = Buffer.from(Array.from({length: 400_000}, (_, i) => (i * 7) % 251))
    writeFileSync(file, data)
    // the file as a writer leaves it: empty when sha256File opened it, grown by the time it reads
    const probe = await open(file, 'r')
    const proto = Object.getPrototypeOf(probe) as Record<'read' | 'stat', (...args: unknown[]) => Promise<unknown>>
    await probe.close()
    const {read, stat} = proto
    let reads = 0
    proto.read = function (this: unknown, ...args: unknown[]) {
      reads++
      return read.apply(this, args)
    }
    proto.stat = async function (this: unknown, ...args: unknown[]) {
      return {...((await stat.apply(this, args)) as object), size: 0}
    }
    try {
      expect(await sha256File(file)).toBe(digest('sha256', data))
    } finally {
      Object.assign(proto, {read, stat})
    }
    expect(reads).toBeLessThan(100) // one byte at a time: 400 000
  })

  it('sha256File of a small file that did not grow reads into one buffer of its size', async () => {
    const dir = temp()
    const file = join(dir, 'small')
    const data = Buffer.from(Array.from({length: 3000}, (_, i) => (i * 13) % 251))
    writeFileSync(file, data)
    const probe = await open(file, 'r')
    const proto = Object.getPrototypeOf(probe) as Record<'read', (...args: unknown[]) => Promise<unknown>>
    await probe.close()
    const {read} = proto
    const sizes: number[] = []
    proto.read = function (this: unknown, ...args: unknown[]) {
      sizes.push((args[0] as Buffer).length)
      return read.apply(this, args)
    }
    try {
      expect(await sha256File(file)).toBe(digest('sha256', data))
    } finally {
      Object.assign(proto, {read})
    }
    // the whole file, then the empty read that finds its end, both into the same 3000-byte buffer (a 1 MiB buffer
    // for the last read cost a follow restore, which hashes thousands of small segments, 12 %)
    expect(sizes).toEqual([3000, 3000])
  })

  it('sha256File refuses a FIFO (no position to read at) with one line naming it, without waiting for a writer', async () => {
    const dir = temp()
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    // a writer, so that a blocking open of the FIFO returns and the read by position is reached (ESPIPE before)
    const writer = spawn('sh', ['-c', `printf 'some bytes' > '${fifo}'`])
    const closed = new Promise((resolve) => writer.once('close', resolve))
    try {
      const error = await sha256File(fifo).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      )
      expect(error?.message).toBe(`cannot hash ${fifo}: it is a FIFO, not a regular file`)
      expect(error?.code).toBe('EINVAL')
      // and with no writer at all: refused, not waiting for one
      writer.kill()
      await closed
      await expect(sha256File(fifo)).rejects.toThrow(`cannot hash ${fifo}: it is a FIFO, not a regular file`)
    } finally {
      writer.kill()
    }
    await expect(sha256File('/dev/zero')).rejects.toThrow('cannot hash /dev/zero: it is a character device')
  })

  it('sha256File, md5File over ranges [start, end), hashStream', async () => {
    const dir = temp()
    const data = Buffer.from(Array.from({length: 3 * 1024 * 1024 + 5}, (_, i) => (i * 31) % 256))
    const file = join(dir, 'data')
    writeFileSync(file, data)
    expect(await sha256File(file)).toBe(digest('sha256', data))
    expect(await md5File(file)).toBe(digest('md5', data))
    expect(await md5File(file, {start: 100, end: 2_000_000})).toBe(digest('md5', data.subarray(100, 2_000_000)))
    expect(await md5File(file, {start: 2_000_000})).toBe(digest('md5', data.subarray(2_000_000)))
    expect(await md5File(file, {start: 5, end: 5})).toBe(digest('md5', Buffer.alloc(0)))
    expect(await hashStream(Readable.from([data.subarray(0, 10), data.subarray(10)]), 'sha1')).toBe(
      digest('sha1', data),
    )
  })
})

describe('path helpers', () => {
  it('pathExists, isEmptyDir, sameOrInside, dirSize, fsync', async () => {
    const dir = temp()
    mkdirSync(join(dir, 'empty'))
    mkdirSync(join(dir, 'full/deeper'), {recursive: true})
    writeFileSync(join(dir, 'full/a'), Buffer.alloc(1000))
    writeFileSync(join(dir, 'full/deeper/b'), Buffer.alloc(234))
    symlinkSync('nowhere', join(dir, 'dangling'))
    symlinkSync('full', join(dir, 'alias'))
    expect(await pathExists(join(dir, 'dangling'))).toBe(true)
    expect(await pathExists(join(dir, 'nope'))).toBe(false)
    expect(await isEmptyDir(join(dir, 'empty'))).toBe(true)
    expect(await isEmptyDir(join(dir, 'full'))).toBe(false)
    expect(await isEmptyDir(join(dir, 'full/a'))).toBe(false)
    expect(await isEmptyDir(join(dir, 'nope'))).toBe(false)
    expect(await sameOrInside(join(dir, 'full/deeper'), join(dir, 'full'))).toBe(true)
    expect(await sameOrInside(join(dir, 'full'), join(dir, 'full/'))).toBe(true)
    expect(await sameOrInside(join(dir, 'alias/deeper/new'), join(dir, 'full'))).toBe(true) // via the symlink
    expect(await sameOrInside(join(dir, 'fullish'), join(dir, 'full'))).toBe(false)
    expect(await sameOrInside(dir, join(dir, 'full'))).toBe(false)
    expect(await dirSize(join(dir, 'full'))).toBe(1234)
    expect(await dirSize(join(dir, 'full/a'))).toBe(1000)
    await fsyncPath(join(dir, 'full/a'))
    await fsyncDir(dir)
  })
})

describe('copyTree', () => {
  it('copies like cp -a: bytes, modes, owners, mtimes (dirs too), symlinks, hard links, empty dirs', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const dest = join(root, 'copy')
    const r = await copyTree(src, dest)
    expect(snapshot(dest)).toEqual(snapshot(src))
    // millisecond mtimes, not just seconds
    expect(Math.abs(statSync(join(dest, 'run.sh')).mtimeMs - statSync(join(src, 'run.sh')).mtimeMs)).toBeLessThan(1)
    expect(
      Math.abs(statSync(join(dest, 'private/key')).mtimeMs - statSync(join(src, 'private/key')).mtimeMs),
    ).toBeLessThan(1)
    expect(statSync(join(dest, 'app-hardlink.ini')).ino).toBe(statSync(join(dest, 'conf/app.ini')).ino)
    expect(lstatSync(join(dest, 'files-link')).isSymbolicLink()).toBe(true)
    expect(r.symlinks).toBe(3)
    expect(r.dirs).toBe(9)
    expect(r.linked).toBe(1)
    expect(readdirSync(root).sort()).toEqual(['copy', 'src']) // no stage left
  })

  it('hard-links unchanged files from a previous copy (rsync --link-dest)', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const first = join(root, 'first')
    await copyTree(src, first)
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\necho changed\n')
    const second = join(root, 'second')
    const r = await copyTree(src, second, {hardlinkFrom: first})
    expect(snapshot(second)).toEqual(snapshot(src))
    expect(statSync(join(second, 'files/picture.bin')).ino).toBe(statSync(join(first, 'files/picture.bin')).ino)
    expect(statSync(join(second, 'run.sh')).ino).not.toBe(statSync(join(first, 'run.sh')).ino)
    expect(r.linked).toBeGreaterThan(5)
    expect(r.bytes).toBe(statSync(join(src, 'run.sh')).size)
  })

  // same st_dev, but link(2) across two mounts fails with EXDEV: a folder bind-mounted elsewhere (containers)
  it.skipIf(!isRoot)(
    'a previous copy seen through another mount of the same file system is copied, not linked',
    async () => {
      const root = temp()
      const src = join(root, 'src')
      makeTree(src)
      const first = join(root, 'first')
      await copyTree(src, first)
      const mounted = join(root, 'mnt')
      mkdirSync(mounted)
      execFileSync('mount', ['--bind', root, mounted])
      try {
        const second = join(mounted, 'second')
        const r = await copyTree(src, second, {hardlinkFrom: first})
        expect(snapshot(second)).toEqual(snapshot(src))
        expect(r.bytes).toBeGreaterThan(0)
      } finally {
        execFileSync('umount', [mounted])
      }
    },
  )

  it('skip, and owners left alone when asked', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const dest = join(root, 'copy')
    await copyTree(src, dest, {skip: (p) => p === 'files' || p.endsWith('.env'), preserveOwners: false})
    expect(readdirSync(dest)).not.toContain('files')
    expect(readdirSync(join(dest, 'conf'))).not.toContain('secret.env')
    if (isRoot) expect(statSync(join(dest, 'private/key')).uid).toBe(0)
  })

  it('onFile names each copied regular file once, with its size, while its copy can be read', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const dest = join(root, 'copy')
    const seen: {path: string; size: number; sha256: string}[] = []
    await copyTree(src, dest, {
      onFile: (path, target, size) => {
        const bytes = readFileSync(target)
        seen.push({path, size, sha256: createHash('sha256').update(bytes).digest('hex')})
      },
    })
    const copies = new Map<string, {path: string; size: number; sha256: string}>()
    const single: string[] = []
    for await (const entry of walk(dest)) {
      if (!entry.stat.isFile()) continue
      copies.set(entry.path, {path: entry.path, size: entry.stat.size, sha256: await sha256File(entry.abs)})
      if (entry.stat.nlink === 1) single.push(entry.path)
    }
    // every file copied (a hard link's first name; the others are linked to it) and nothing twice
    expect(new Set(seen.map((f) => f.path)).size).toBe(seen.length)
    for (const f of seen) expect(f).toEqual(copies.get(f.path))
    expect(single.length).toBeGreaterThan(0)
    for (const path of single) expect(seen.map((f) => f.path)).toContain(path)
  })

  it('refuses an existing destination, a copy into itself, and a missing source', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(join(src, 'x'), {recursive: true})
    mkdirSync(join(root, 'taken'))
    await expect(copyTree(src, join(root, 'taken'))).rejects.toThrow(/already exists/)
    await expect(copyTree(src, join(src, 'x/inner'))).rejects.toThrow(/into itself/)
    await expect(copyTree(join(root, 'nope'), join(root, 'c'))).rejects.toBeInstanceOf(BkError)
  })

  it('removes the half-made copy when it fails', async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const error = await copyTree(src, join(root, 'copy'), {
      skip: (p) => {
        if (p === 'private') throw new Error('disk on fire')
        return false
      },
    }).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.message).toMatch(/disk on fire/)
    expect(readdirSync(root)).toEqual(['src'])
  })

  it('copies files around the small-file size byte for byte, with modes the umask would change', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(src)
    const sizes = [0, 1, 4096, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 300 * 1024]
    const modes = [0o644, 0o666, 0o400, 0o4755, 0o2770, 0o777, 0o600]
    sizes.forEach((size, i) => {
      const file = join(src, `f${i}`)
      writeFileSync(file, Buffer.from(Array.from({length: size}, (_, j) => (j * 7 + i) % 251)))
      chmodSync(file, modes[i]!)
    })
    const old = process.umask(0o027)
    let r: Awaited<ReturnType<typeof copyTree>>
    try {
      r = await copyTree(src, join(root, 'copy'))
    } finally {
      process.umask(old)
    }
    sizes.forEach((size, i) => {
      const a = join(src, `f${i}`)
      const b = join(root, 'copy', `f${i}`)
      expect(readFileSync(b).equals(readFileSync(a))).toBe(true)
      expect(statSync(b).mode & 0o7777).toBe(modes[i])
      expect(statSync(b).size).toBe(size)
      expect(Math.abs(statSync(b).mtimeMs - statSync(a).mtimeMs)).toBeLessThan(1)
    })
    expect(r.files).toBe(sizes.length)
    expect(r.bytes).toBe(sizes.reduce((a, b) => a + b, 0))
  })

  it("stage: false copies straight into a new path of the caller's stage, and removes it when it fails", async () => {
    const root = temp()
    const src = join(root, 'src')
    makeTree(src)
    const stage = join(root, 'stage')
    mkdirSync(stage)
    const seen = new Set<string>()
    const r = await copyTree(src, join(stage, 'copy'), {
      stage: false,
      onFile: () => {
        for (const name of readdirSync(stage)) seen.add(name)
      },
    })
    expect([...seen]).toEqual(['copy']) // no stage of its own beside it
    expect(snapshot(join(stage, 'copy'))).toEqual(snapshot(src))
    expect(r.linked).toBe(1)
    await expect(copyTree(src, join(stage, 'copy'), {stage: false})).rejects.toThrow(/already exists/)
    const error = await copyTree(src, join(stage, 'again'), {
      stage: false,
      skip: (p) => {
        if (p === 'private') throw new Error('disk on fire')
        return false
      },
    }).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(readdirSync(stage)).toEqual(['copy'])
  })

  it('fails with one line, publishing nothing, on a name that is not UTF-8 (never a copy without that file)', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(join(src, 'sub'), {recursive: true})
    writeFileSync(join(src, 'a'), 'a')
    // a Latin-1 name, as old tools and archives leave them: Node lists it with U+FFFD, a name that does not exist
    writeFileSync(Buffer.concat([Buffer.from(`${src}/sub/caf`), Buffer.from([0xe9])]), 'data')
    const error = await copyTree(src, join(root, 'c')).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.message).toMatch(/sub\/caf.*not valid UTF-8/)
    expect(error.message.split('\n')).toHaveLength(1)
    expect(readdirSync(root)).toEqual(['src'])
  })

  it('leaves fifos out and lists them', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(src)
    writeFileSync(join(src, 'a'), 'a')
    const {execFileSync} = await import('node:child_process')
    execFileSync('mkfifo', [join(src, 'p')])
    const r = await copyTree(src, join(root, 'c'))
    expect(r.skipped).toEqual(['p'])
    expect(readdirSync(join(root, 'c'))).toEqual(['a'])
  })
})
