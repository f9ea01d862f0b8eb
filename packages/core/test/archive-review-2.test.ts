// Review of the head hand-off (Node writes the prepended members into the compressor, then GNU tar writes the tree
// straight into it) and of the manifest read from the decompressed read-back: compressors that stop early, a full
// disk, signals at each stage, and archives of awkward trees checked against GNU tar's own extraction.
import {execFileSync, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import {join, resolve} from 'node:path'
import {openFds} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {createBkArchive, verifyManifest} from '../src/manifest/index.js'
import {
  compressing,
  creating,
  holdersUnder as holders,
  onPath,
  restorePath,
  roundupShaped,
  smallDisk,
  snapshot,
  temp,
  testMeta,
  useTempDirs,
} from './archive-helpers.js'

useTempDirs()

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: Error) => e,
  )

/** A small tree (its tar stream, 64 KiB with GNU tar's record, fits in a socket's buffer). */
function smallTree(root: string): string {
  const src = join(root, 'src')
  mkdirSync(join(src, 'sub'), {recursive: true})
  writeFileSync(join(src, 'a.txt'), 'alpha\n')
  writeFileSync(join(src, 'sub', 'b.txt'), 'beta\n')
  return src
}

describe('a compressor that stops early', () => {
  for (const [zipper, suffix] of [
    ['pigz', 'tar.gz'],
    ['zstd', 'tar.zst'],
  ] as const)
    it(`${zipper} exiting 0 after the prepended members, tar's bytes left unread in the pipe: refused (.${suffix})`, async () => {
      const root = temp()
      const src = smallTree(root)
      const stage = join(root, 'stage')
      mkdirSync(stage)
      writeFileSync(join(stage, 'db'), randomBytes(1000))
      // the head: 'database/' (512), 'database/db' (512 + 1024), 'home/' (512)
      const head = 512 + 512 + 1024 + 512
      // reads the head alone, compresses it well, and exits 0 a moment later: by then tar wrote the whole tree
      // into the socket's buffer and exited 0 too, so nobody saw a broken pipe
      onPath(root, {[zipper]: compressing(`head -c ${head} | "$REAL" "$@"\nsleep 1`)})
      const file = join(root, `bk.${suffix}`)
      const error = await failure(createBkArchive({...roundupShaped(src, join(stage, 'db')), file}))
      const listed = existsSync(file) ? execFileSync('tar', ['-tf', file], {encoding: 'utf8'}) : ''
      // what a restore would get: the database and none of the home
      expect({error: error?.message ?? 'none', listed}).toMatchObject({error: expect.stringMatching(file), listed: ''})
      expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage'])
    })
})

/** Children of this process that died and were not waited for. */
function zombies(): number[] {
  const found: number[] = []
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (state === 'Z' && Number(ppid) === process.pid) found.push(Number(pid))
    } catch {}
  }
  return found
}

/** A head of `mib` MiB (a staged database) and a tree of `treeMib` MiB, both incompressible. */
function bigSetUp(root: string, mib: number, treeMib: number) {
  const src = join(root, 'src')
  mkdirSync(src)
  for (let i = 0; i < treeMib; i++) writeFileSync(join(src, `f${i}`), randomBytes(1024 * 1024))
  writeFileSync(join(src, 'zz.txt'), 'last\n')
  const stage = join(root, 'stage')
  mkdirSync(stage)
  writeFileSync(join(stage, 'db'), randomBytes(mib * 1024 * 1024 + 5))
  return roundupShaped(src, join(stage, 'db'))
}

describe('a full disk while the head or the tree goes in', () => {
  for (const suffix of ['tar.gz', 'tar.zst'] as const)
    for (const [stage, mib, treeMib] of [
      ['head', 4, 0],
      ['tree', 0, 4],
    ] as const)
      it(`during the ${stage} (.${suffix}): one line naming the file, nothing left, no fd, child or zombie`, async () => {
        const dir = temp()
        const options = bigSetUp(dir, mib, treeMib)
        const small = smallDisk(dir, '2m')
        if (!small) return
        try {
          const file = join(small, `bk.${suffix}`)
          await createBkArchive({...options, file: join(dir, `warm.${suffix}`)})
          const before = openFds()
          const error = await failure(createBkArchive({...options, file}))
          expect(error?.message).toBe(`no space left writing ${file}; nothing was written`)
          expect(readdirSync(small)).toEqual([])
          expect(openFds().filter((fd) => !before.includes(fd))).toEqual([])
          expect(holders(small)).toEqual([])
          expect(zombies()).toEqual([])
        } finally {
          execFileSync('umount', ['-l', small])
        }
      })
})

describe('a compressor killed while the head goes in', () => {
  it('fails with its signal, and leaves nothing', async () => {
    const root = temp()
    const options = bigSetUp(root, 3, 0)
    const file = join(root, 'bk.tar.gz')
    await createBkArchive({...options, file: join(root, 'warm.tar.gz')})
    const before = openFds()
    onPath(root, {
      pigz: compressing(`"$REAL" "$@" | head -c 100000 >/dev/null\nkill -9 $$`),
      tar: creating(`touch ${root}/tar-ran\nexec "$REAL" "$@"`),
    })
    await expect(createBkArchive({...options, file})).rejects.toThrow(/pigz was killed by SIGKILL/)
    // tar never started: the compressor was gone before the hand-off
    expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage', 'warm.tar.gz'])
    expect(openFds().filter((fd) => !before.includes(fd))).toEqual([])
    expect(holders(root)).toEqual([])
    expect(zombies()).toEqual([])
  })
})

/** A tar wrapper that runs `action` (sh) once the real tar has `name` open, then exits with tar's status. The
 * compressor sleeps a while first (slowPigz): tar fills the socket's buffer and blocks in f0, holding it open. */
const whileTarReads = (name: string, action: string) =>
  `case "$1" in --version) exec "$REAL" "$@";; esac
exec 3<&0
"$REAL" "$@" <&3 &
p=$!
i=0
while [ $i -lt 3000 ] && ! ls -l /proc/$p/fd 2>/dev/null | grep -q '${name}'; do sleep 0.01; i=$((i+1)); done
${action}
wait $p`

const slowPigz = compressing('sleep 2\nexec "$REAL" "$@"')

describe('the tree changing while tar reads it (after the hand-off)', () => {
  it('a file that shrinks: fails naming it, nothing left', async () => {
    const root = temp()
    const options = bigSetUp(root, 0, 4)
    const file = join(root, 'bk.tar.gz')
    onPath(root, {pigz: slowPigz, tar: whileTarReads('f0$', `truncate -s 1000 ${options.cwd}/f0`)})
    const error = await failure(createBkArchive({...options, file}))
    expect(error?.message).toMatch(new RegExp(`^f0 shrank while ${file} was being written; `))
    expect(error?.message.split('\n')).toHaveLength(1)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage'])
    expect(zombies()).toEqual([])
  })

  it('a file that vanishes before tar reaches it: fails naming it, nothing left', async () => {
    const root = temp()
    const options = bigSetUp(root, 0, 4)
    const file = join(root, 'bk.tar.gz')
    onPath(root, {pigz: slowPigz, tar: whileTarReads('f0$', `rm ${options.cwd}/zz.txt`)})
    const error = await failure(createBkArchive({...options, file}))
    expect(error?.message).toMatch(new RegExp(`^zz.txt vanished while ${file} was being written; `))
    expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage'])
  })

  it('a file that grows: archived at the size tar saw, the manifest hashing exactly those bytes', async () => {
    const root = temp()
    const options = bigSetUp(root, 0, 4)
    const file = join(root, 'bk.tar.gz')
    const f0 = readFileSync(join(options.cwd, 'f0'))
    onPath(root, {pigz: slowPigz, tar: whileTarReads('f0$', `head -c 4096 /dev/zero >> ${options.cwd}/f0`)})
    const r = await createBkArchive({...options, file})
    const entry = r.manifest.files.find((f) => f.path === 'home/f0')
    expect(entry).toEqual({path: 'home/f0', size: f0.length, sha256: createHash('sha256').update(f0).digest('hex')})
    expect(await verifyManifest(file)).toMatchObject({ok: true})
  })
})

const DIST = resolve(import.meta.dirname, '..', 'dist', 'manifest', 'index.js')

/** bk's archive write in a process of its own (core's build), PATH as this test set it; resolves with its end. */
function inChild(root: string, options: object, file: string) {
  const script = join(root, 'run.mjs')
  writeFileSync(
    script,
    `const {createBkArchive} = await import(${JSON.stringify(DIST)})
await createBkArchive({...${JSON.stringify(options)}, file: ${JSON.stringify(file)}})
console.log('done')`,
  )
  const child = spawn(process.execPath, [script], {stdio: ['ignore', 'pipe', 'pipe'], env: process.env})
  let out = ''
  child.stdout.on('data', (c) => {
    out += c
  })
  child.stderr.on('data', (c) => {
    out += c
  })
  const ended = new Promise<{code: number | null; signal: string | null; out: string}>((r) =>
    child.once('close', (code, signal) => r({code, signal, out})),
  )
  return {child, ended}
}

const until = async (what: () => boolean, ms = 30_000) => {
  for (const end = Date.now() + ms; Date.now() < end && !what(); ) await new Promise((r) => setTimeout(r, 5))
  return what()
}

describe('bk signalled at each stage of the hand-off', () => {
  for (const [signal, stage] of [
    ['SIGTERM', 'head'],
    ['SIGTERM', 'tree'],
    ['SIGKILL', 'head'],
    ['SIGKILL', 'tree'],
  ] as const)
    it(`${signal} while the ${stage} goes in: no archive, no child left writing, the next run clean`, async () => {
      const root = temp()
      const options = stage === 'head' ? bigSetUp(root, 48, 0) : bigSetUp(root, 0, 48)
      const file = join(root, 'bk.tar.gz')
      onPath(root, {
        pigz: compressing(`[ -e ${root}/zip-ran ] || touch ${root}/zip-ran\nexec "$REAL" "$@"`),
        tar: creating(`touch ${root}/tar-ran\nexec "$REAL" "$@"`),
      })
      const {child, ended} = inChild(root, options, file)
      expect(await until(() => existsSync(join(root, stage === 'head' ? 'zip-ran' : 'tar-ran')))).toBe(true)
      await new Promise((r) => setTimeout(r, 100))
      child.kill(signal)
      const end = await ended
      expect(end.out).not.toContain('done')
      if (signal === 'SIGTERM') expect(end.code).toBe(143)
      else expect(end.signal).toBe('SIGKILL')
      // the children die with bk (a handler, or the parent-death signal): nothing writes on
      expect(await until(() => holders(root).length === 0, 5000)).toBe(true)
      const left = readdirSync(root).filter(
        (n) => !['bin', 'src', 'stage', 'run.mjs', 'zip-ran', 'tar-ran'].includes(n),
      )
      if (signal === 'SIGTERM') expect(left).toEqual([])
      else for (const name of left) expect(name).toMatch(/^\.bk\.tar\.gz\.bk-partial-\d+-/) // never the archive
      restorePath()
      const again = await createBkArchive({...options, file})
      expect(again.manifest.files.length).toBeGreaterThan(0)
      expect(readdirSync(root).filter((n) => n.includes('bk-partial'))).toEqual([])
    })
})

/** A name with é, a backslash, a star, a control byte and a trailing space (one not UTF-8 is refused). */
const ODD = Buffer.from('n\u00e9\\*\u0001 ')

/** A tree of what tar formats find hard: odd bytes, long names and link targets, hard links, sparse, many files. */
function awkwardTree(root: string): string {
  const src = join(root, 'src')
  mkdirSync(join(src, 'many'), {recursive: true})
  for (let i = 0; i < 1500; i++) writeFileSync(join(src, 'many', `m${i}`), `${i}\n`)
  const odd = Buffer.concat([Buffer.from(`${src}/`), ODD])
  writeFileSync(odd, 'odd name: é, backslash, star, control byte, trailing space\n')
  writeFileSync(join(src, '-leading-dash'), 'dash\n')
  writeFileSync(join(src, 'ünï©ødé ☃'), 'utf-8 name\n')
  const long = join(src, 'd'.repeat(120), 'e'.repeat(140))
  mkdirSync(long, {recursive: true})
  writeFileSync(join(long, 'f'.repeat(200)), 'long path\n')
  linkSync(join(long, 'f'.repeat(200)), join(src, 'hard-to-long'))
  writeFileSync(join(src, 'target'), 'hard linked\n')
  linkSync(join(src, 'target'), join(src, 'hard'))
  symlinkSync('t'.repeat(180), join(src, 'dangling-long-target'))
  symlinkSync('many/../target', join(src, 'up'))
  writeFileSync(join(src, 'sparse'), 'head')
  truncateSync(join(src, 'sparse'), 8 * 1024 * 1024)
  writeFileSync(join(src, 'empty'), '')
  mkdirSync(join(src, 'empty-dir'))
  writeFileSync(join(src, 'bk-manifest.json'), '{"not": "ours"}')
  return src
}

/** sha256 of every regular file under `dir`, by path relative to it (names as UTF-8). */
function hashes(dir: string): Map<string, string> {
  const out = execFileSync('sh', ['-c', `cd "${dir}" && find . -type f -print0 | xargs -0 sha256sum -z`])
  const map = new Map<string, string>()
  for (const line of out.toString('latin1').split('\0').filter(Boolean)) {
    const hash = line.slice(0, 64)
    const name = Buffer.from(line.slice(66), 'latin1').toString('utf8').replace(/^\.\//, '')
    map.set(name, hash)
  }
  return map
}

describe('awkward trees through the hand-off, checked by GNU tar', () => {
  for (const [label, extra] of [
    ['a prefix and prepended members', {prefix: 'home', prepend: true}],
    ['a prefix alone', {prefix: 'home', prepend: false}],
    ['prepended members alone', {prefix: undefined, prepend: true}],
  ] as const)
    for (const suffix of ['tar.gz', 'tar.zst'] as const)
      it(`${label} (.${suffix}): GNU tar extracts it byte for byte, every manifest hash is the real file's`, async () => {
        const root = temp()
        const src = awkwardTree(root)
        const stage = join(root, 'stage')
        mkdirSync(stage)
        writeFileSync(join(stage, 'db'), randomBytes(200_000)) // past a socket's buffer
        const file = join(root, `bk.${suffix}`)
        const r = await createBkArchive({
          cwd: src,
          file,
          meta: testMeta,
          prefix: extra.prefix,
          prepend: extra.prepend
            ? [
                {name: 'database', directory: true, mode: 0o700},
                {name: 'database/db', source: join(stage, 'db')},
              ]
            : undefined,
        })
        const out = join(root, 'out')
        mkdirSync(out)
        execFileSync('tar', ['-xf', file, '-C', out]) // exits non-zero on any complaint
        const home = extra.prefix ? join(out, extra.prefix) : out
        const skip = extra.prefix ? [] : ['bk-manifest.json', 'database']
        expect(snapshot(home, {skip})).toEqual(snapshot(src, {skip}))
        const fromSrc = hashes(src)
        fromSrc.delete('bk-manifest.json')
        const fromHome = hashes(home)
        fromHome.delete('bk-manifest.json')
        fromHome.delete('database/db')
        expect(fromHome).toEqual(fromSrc)
        const real = hashes(out)
        const listed = new Map(r.manifest.files.map((f) => [f.path, f.sha256]))
        real.delete('bk-manifest.json') // ours, not listed
        expect(listed).toEqual(real)
        if (extra.prepend)
          expect(readFileSync(join(out, 'database', 'db')).equals(readFileSync(join(stage, 'db')))).toBe(true)
        expect(await verifyManifest(file)).toMatchObject({ok: true, missing: [], changed: [], extra: []})
        const mine = join(root, 'mine')
        await extractArchive({file, target: mine})
        expect(snapshot(extra.prefix ? join(mine, extra.prefix) : mine, {skip})).toEqual(snapshot(src, {skip}))
      })

  // the manifest schema's path pattern once refused a newline ('.+$'): such a tree could not be backed up at all
  it('a file name with a newline: backed up, listed in the manifest, restored', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(src)
    writeFileSync(join(src, 'a\nb'), 'x')
    const file = join(root, 'bk.tar.gz')
    const r = await createBkArchive({cwd: src, file, meta: testMeta, prefix: 'home'})
    expect(r.manifest.files.map((f) => f.path)).toEqual(['home/a\nb'])
    expect((await verifyManifest(file)).ok).toBe(true)
    const out = join(root, 'out')
    await extractArchive({file, target: out})
    expect(readFileSync(join(out, 'home', 'a\nb'), 'utf8')).toBe('x')
  })

  it('an empty tree under a prefix, no members prepended: GNU tar lists just the prefix', async () => {
    const root = temp()
    const src = join(root, 'src')
    mkdirSync(src)
    const file = join(root, 'bk.tar.gz')
    const r = await createBkArchive({cwd: src, file, meta: testMeta, prefix: 'home'})
    expect(execFileSync('tar', ['-tzf', file], {encoding: 'utf8'})).toBe('bk-manifest.json\nhome/\n')
    expect(r.manifest.files).toEqual([])
    const plain = join(root, 'plain.tar.zst')
    await createArchive({cwd: src, file: plain, prefix: 'home'})
    expect(execFileSync('tar', ['-tf', plain], {encoding: 'utf8'})).toBe('home/\n')
  })
})
