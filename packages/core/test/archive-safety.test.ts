import {execFileSync} from 'node:child_process'
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {checkArchive, createArchive, extractArchive, listArchive, readArchiveMember} from '../src/archive/index.js'
import {verifyManifest} from '../src/manifest/index.js'
import {cleanupTemp, names, type RawMember, rawTar, rejection, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

/** A sandbox: `outside` (must stay untouched), `target` (to extract into) inside `box`. */
function sandbox() {
  const box = temp()
  const outside = join(box, 'outside')
  mkdirSync(outside)
  writeFileSync(join(outside, 'keep.txt'), 'keep')
  return {box, outside, target: join(box, 'area', 'target')}
}

const ok: RawMember = {path: 'fine.txt', content: 'fine'}

describe('outsideSymlinks: links to absolute or outside targets restored as links, never written through', () => {
  it('restores /etc/localtime-style and escaping links with their text', async () => {
    const {box, outside, target} = sandbox()
    const file = join(box, 'volume.tar.gz')
    const members: RawMember[] = [
      {path: 'vol', type: 'Directory'},
      {path: 'vol/localtime', type: 'SymbolicLink', linkpath: '/etc/localtime'},
      {path: 'vol/up', type: 'SymbolicLink', linkpath: '../../outside/keep.txt'},
      {path: 'vol/hl', type: 'Link', linkpath: 'vol/localtime'},
      {path: 'vol/f', content: 'f'},
    ]
    writeFileSync(file, rawTar(members, {gzip: true}))
    // the default stays strict
    expect((await rejection(extractArchive({file, target}))).message).toMatch(/absolute path \/etc\/localtime/)
    expect((await checkArchive(file)).unsafe.length).toBeGreaterThan(0)
    expect((await checkArchive(file, {outsideSymlinks: true})).unsafe).toEqual([])
    const r = await extractArchive({file, target, outsideSymlinks: true})
    expect(r.entries).toBe(5)
    expect(readlinkSync(join(target, 'vol/localtime'))).toBe('/etc/localtime')
    expect(readlinkSync(join(target, 'vol/up'))).toBe('../../outside/keep.txt')
    expect(lstatSync(join(target, 'vol/hl')).isSymbolicLink()).toBe(true)
    expect(readFileSync(join(target, 'vol/f'), 'utf8')).toBe('f')
    expect(names(outside)).toEqual(['keep.txt'])
  })

  const through: {name: string; members: (outside: string) => RawMember[]; entry: string; reason: RegExp}[] = [
    {
      name: 'a file written through an absolute symlink',
      members: (outside) => [
        {path: 'abs', type: 'SymbolicLink', linkpath: outside},
        {path: 'abs/x', content: 'pwned'},
      ],
      entry: 'abs/x',
      reason: /through the symlink abs/,
    },
    {
      name: 'a folder and file written through an escaping symlink',
      members: () => [
        {path: 'esc', type: 'SymbolicLink', linkpath: '../../outside'},
        {path: 'esc/sub', type: 'Directory'},
        {path: 'esc/sub/x', content: 'pwned'},
      ],
      entry: 'esc/sub',
      reason: /through the symlink esc/,
    },
    {
      name: 'a hard link made through an absolute symlink',
      members: (outside) => [
        {path: 'abs', type: 'SymbolicLink', linkpath: outside},
        {path: 'hl', type: 'Link', linkpath: 'abs/keep.txt'},
      ],
      entry: 'hl',
      reason: /goes through the symlink abs/,
    },
  ]
  for (const attack of through) {
    it(`still refuses ${attack.name}`, async () => {
      const {box, outside, target} = sandbox()
      const file = join(box, 'evil.tar')
      writeFileSync(file, rawTar(attack.members(outside)))
      const error = await rejection(extractArchive({file, target, outsideSymlinks: true}))
      expect(error.message).toContain(`'${attack.entry}'`)
      expect(error.message).toMatch(attack.reason)
      expect(error.code).toBe('EUNSAFE')
      expect(names(outside)).toEqual(['keep.txt'])
      expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('keep')
      expect(names(join(box, 'area'))).toEqual([])
      expect((await checkArchive(file, {outsideSymlinks: true})).unsafe.join('\n')).toMatch(attack.reason)
    })
  }

  it('never applies a mode or time fixup through a link that replaced a file or folder', async () => {
    const {box, outside, target} = sandbox()
    const before = statSync(outside)
    const file = join(box, 'replace.tar')
    writeFileSync(
      file,
      rawTar([
        {path: 'd', type: 'Directory', mode: 0o700},
        {path: 's', content: 'x', mode: 0o4755},
        {path: 'd', type: 'SymbolicLink', linkpath: outside},
        {path: 's', type: 'SymbolicLink', linkpath: join(outside, 'keep.txt')},
      ]),
    )
    await extractArchive({file, target, outsideSymlinks: true})
    expect(readlinkSync(join(target, 'd'))).toBe(outside)
    expect(readlinkSync(join(target, 's'))).toBe(join(outside, 'keep.txt'))
    expect(statSync(outside).mode).toBe(before.mode)
    expect(statSync(outside).mtimeMs).toBe(before.mtimeMs)
    expect(statSync(join(outside, 'keep.txt')).mode & 0o7777).toBe(0o644)
  })
})

describe('safe extraction refuses tar-slip archives, naming the entry, writing nothing', () => {
  const attacks: {name: string; members: (outside: string) => RawMember[]; entry: string; reason: RegExp}[] = [
    {
      name: "'..' in a path",
      members: () => [ok, {path: '../../outside/x', content: 'pwned'}],
      entry: '../../outside/x',
      reason: /'\.\.'/,
    },
    {
      name: "'..' in the middle",
      members: () => [ok, {path: 'a/../../../outside/x', content: 'p'}],
      entry: 'a/../../../outside/x',
      reason: /'\.\.'/,
    },
    {
      name: 'an absolute path',
      members: (outside) => [ok, {path: join(outside, 'abs.txt'), content: 'p'}],
      entry: '/',
      reason: /absolute/,
    },
    {
      name: 'a symlink pointing outside, then a file through it',
      members: () => [
        ok,
        {path: 'esc', type: 'SymbolicLink', linkpath: '../../outside'},
        {path: 'esc/x', content: 'p'},
      ],
      entry: 'esc',
      reason: /outside the target/,
    },
    {
      name: 'an absolute symlink',
      members: (outside) => [{path: 'abs-link', type: 'SymbolicLink', linkpath: outside}],
      entry: 'abs-link',
      reason: /absolute path/,
    },
    {
      name: 'a file written through an inside symlink',
      members: () => [
        {path: 'sub', type: 'Directory'},
        {path: 'in', type: 'SymbolicLink', linkpath: 'sub'},
        {path: 'in/x', content: 'p'},
      ],
      entry: 'in/x',
      reason: /through the symlink in/,
    },
    {
      name: 'a chain of symlinks that escapes (a -> ., b -> a/..)',
      members: () => [
        {path: 'a', type: 'SymbolicLink', linkpath: '.'},
        {path: 'b', type: 'SymbolicLink', linkpath: 'a/..'},
      ],
      entry: 'b',
      reason: /outside the target/,
    },
    {
      name: 'a symlink made to escape by a later entry',
      members: () => [
        {path: 'a', type: 'SymbolicLink', linkpath: 'b/x/../..'},
        {path: 'x', type: 'Directory'},
        {path: 'b', type: 'SymbolicLink', linkpath: '.'},
      ],
      entry: 'a',
      reason: /outside the target/,
    },
    {
      name: 'a hard link to a file outside',
      members: () => [ok, {path: 'hl', type: 'Link', linkpath: '../../outside/keep.txt'}],
      entry: 'hl',
      reason: /'\.\.'/,
    },
    {
      name: 'a hard link to an absolute path',
      members: (outside) => [ok, {path: 'hl', type: 'Link', linkpath: join(outside, 'keep.txt')}],
      entry: 'hl',
      reason: /absolute/,
    },
    {
      name: 'a hard link to an inside symlink that escapes from its new place',
      members: () => [
        {path: 'd', type: 'Directory'},
        {path: 'd/up', type: 'SymbolicLink', linkpath: '..'},
        {path: 'hl', type: 'Link', linkpath: 'd/up'},
      ],
      entry: 'hl',
      reason: /outside the target/,
    },
    {
      name: 'a character device',
      members: () => [ok, {path: 'null', type: 'CharacterDevice'}],
      entry: 'null',
      reason: /device/,
    },
    {name: 'a block device', members: () => [ok, {path: 'sda', type: 'BlockDevice'}], entry: 'sda', reason: /device/},
    {name: 'a fifo', members: () => [ok, {path: 'pipe', type: 'FIFO'}], entry: 'pipe', reason: /fifo/},
  ]

  for (const attack of attacks) {
    for (const gzip of [false, true]) {
      it(`${attack.name}${gzip ? ' (.tar.gz)' : ''}`, async () => {
        const {box, outside, target} = sandbox()
        const file = join(box, gzip ? 'evil.tar.gz' : 'evil.tar')
        writeFileSync(file, rawTar(attack.members(outside), {gzip}))
        const error = await rejection(extractArchive({file, target}))
        expect(error.message).toContain(attack.entry === '/' ? 'unsafe entry' : `'${attack.entry}'`)
        expect(error.message).toMatch(attack.reason)
        expect(error.message).not.toContain('\n')
        expect(error.code).toBe('EUNSAFE')
        // nothing outside, nothing left of the target, no stage
        expect(names(outside)).toEqual(['keep.txt'])
        expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('keep')
        expect(names(box).sort()).toEqual(['area', 'outside', file.endsWith('gz') ? 'evil.tar.gz' : 'evil.tar'].sort())
        expect(names(join(box, 'area'))).toEqual([])
        // checkArchive reports it without writing
        const check = await checkArchive(file)
        expect(check.unsafe.length).toBeGreaterThan(0)
        expect(check.unsafe.join('\n')).toMatch(attack.reason)
      })
    }
  }

  it('an absolute path made by GNU tar -P', async () => {
    const {box, outside, target} = sandbox()
    const file = join(box, 'gnu-abs.tar')
    execFileSync('tar', ['-cPf', file, join(outside, 'keep.txt')])
    const error = await rejection(extractArchive({file, target}))
    expect(error.message).toMatch(/unsafe entry '\/.*keep\.txt' \(absolute path\)/)
    expect(names(join(box, 'area'))).toEqual([])
  })

  it('a pre-existing symlink in a non-empty target is not written through', async () => {
    const {box, outside, target} = sandbox()
    mkdirSync(target, {recursive: true})
    symlinkSync('../../outside', join(target, 'link'))
    writeFileSync(join(target, 'existing.txt'), 'mine')
    const file = join(box, 'through.tar')
    writeFileSync(
      file,
      rawTar([
        {path: 'new.txt', content: 'n'},
        {path: 'link/x', content: 'pwned'},
      ]),
    )
    const error = await rejection(extractArchive({file, target}))
    expect(error.message).toMatch(/'link\/x' \(is written through the symlink link\)/)
    expect(names(outside)).toEqual(['keep.txt'])
    // precheck: nothing at all was written into the existing target
    expect(names(target)).toEqual(['existing.txt', 'link'])
  })

  it('an archive that replaces the target itself with a file', async () => {
    const {box, target} = sandbox()
    const file = join(box, 'dot.tar')
    writeFileSync(file, rawTar([{path: '.', content: 'x'}]))
    const error = await rejection(extractArchive({file, target}))
    expect(error.message).toMatch(/replaces the target/)
  })

  it('an empty existing target is emptied again on refusal', async () => {
    const {box, target} = sandbox()
    mkdirSync(target, {recursive: true})
    const file = join(box, 'late.tar')
    writeFileSync(
      file,
      rawTar([
        ok,
        {path: 'dir', type: 'Directory'},
        {path: 'dir/f', content: 'f'},
        {path: 'dev', type: 'CharacterDevice'},
      ]),
    )
    await rejection(extractArchive({file, target}))
    expect(names(target)).toEqual([])
  })

  it('allows symlinks that stay inside, and .. inside link targets that stay inside', async () => {
    const {box, target} = sandbox()
    const file = join(box, 'good.tar')
    writeFileSync(
      file,
      rawTar([
        {path: 'a/b', type: 'Directory'},
        {path: 'a/b/f', content: 'f'},
        {path: 'a/up', type: 'SymbolicLink', linkpath: '../a/b/f'},
        {path: 'top', type: 'SymbolicLink', linkpath: 'a/b/../b/f'},
        {path: 'hl', type: 'Link', linkpath: 'a/b/f'},
      ]),
    )
    const r = await extractArchive({file, target})
    expect(r.entries).toBe(5)
    expect(readFileSync(join(target, 'top'), 'utf8')).toBe('f')
    expect(readFileSync(join(target, 'a/up'), 'utf8')).toBe('f')
    expect(statSync(join(target, 'hl')).ino).toBe(statSync(join(target, 'a/b/f')).ino)
    expect((await checkArchive(file)).unsafe).toEqual([])
  })

  it('strip removes leading components and still checks what remains', async () => {
    const {box, target} = sandbox()
    const file = join(box, 'strip.tar')
    writeFileSync(
      file,
      rawTar([
        {path: 'top/', type: 'Directory'},
        {path: 'top/a.txt', content: 'a'},
      ]),
    )
    await extractArchive({file, target, strip: 1})
    expect(names(target)).toEqual(['a.txt'])
  })
})

describe('corrupt or truncated archives', () => {
  async function goodArchive(ext: string): Promise<{dir: string; file: string}> {
    const dir = temp()
    const src = join(dir, 'src')
    mkdirSync(src)
    // incompressible content so a cut or a flipped bit lands in real data
    writeFileSync(join(src, 'data.bin'), Buffer.from(Array.from({length: 400_000}, (_, i) => (i * 7919) % 251)))
    writeFileSync(join(src, 'rand.bin'), execFileSync('head', ['-c', '300000', '/dev/urandom']))
    const file = join(dir, `good.${ext}`)
    await createArchive({cwd: src, file})
    return {dir, file}
  }

  async function expectCorrupt(file: string, dir: string) {
    const target = join(dir, 'out')
    const e1 = await rejection(extractArchive({file, target}))
    expect(e1.message).toMatch(
      new RegExp(`^archive ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt or truncated: .+`),
    )
    expect(e1.message).not.toContain('\n')
    expect(names(dir).includes('out')).toBe(false)
    expect(names(dir).filter((n) => n.includes('partial'))).toEqual([])
    await expect(checkArchive(file)).rejects.toThrow(/is corrupt or truncated/)
    await expect(
      (async () => {
        for await (const _ of listArchive(file)) {
        }
      })(),
    ).rejects.toThrow(/is corrupt or truncated/)
  }

  for (const ext of ['tar.gz', 'tar.zst', 'tar']) {
    it(`a truncated .${ext} is refused`, async () => {
      const {dir, file} = await goodArchive(ext)
      truncateSync(file, Math.floor(statSync(file).size / 2))
      await expectCorrupt(file, dir)
    })
  }

  it('a plain .tar cut exactly at a member boundary (GNU tar would list it without a word)', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    mkdirSync(src)
    writeFileSync(join(src, 'a'), Buffer.alloc(1000, 1))
    writeFileSync(join(src, 'b'), Buffer.alloc(1000, 2))
    const file = join(dir, 'cut.tar')
    execFileSync('tar', ['-cf', file, '-C', src, 'a', 'b'])
    truncateSync(file, 512 + 1024) // the header and data blocks of 'a', nothing after
    await expectCorrupt(file, dir)
  })

  for (const ext of ['tar.gz', 'tar.zst']) {
    it(`a bit-flipped .${ext} is refused`, async () => {
      const {dir, file} = await goodArchive(ext)
      const bytes = readFileSync(file)
      const at = Math.floor(bytes.length * 0.6)
      bytes[at] = (bytes[at] as number) ^ 0x10
      writeFileSync(file, bytes)
      await expectCorrupt(file, dir)
    })
  }

  it('a file that is not an archive at all', async () => {
    const dir = temp()
    const file = join(dir, 'notes.tar.gz')
    writeFileSync(file, 'this is not a tarball, just some text that is long enough '.repeat(20))
    await expectCorrupt(file, dir)
  })

  it('a missing archive', async () => {
    const dir = temp()
    const e = await rejection(extractArchive({file: join(dir, 'nope.tar.gz'), target: join(dir, 'x')}))
    expect(e.message).toMatch(/not found/)
    await expect(readArchiveMember(join(dir, 'nope.tar.gz'), 'x')).rejects.toThrow(/not found/)
  })

  it('verifyManifest of a corrupt bk archive is an error, not a pass', async () => {
    const {dir, file} = await goodArchive('tar.gz')
    truncateSync(file, Math.floor(statSync(file).size * 0.7))
    await expect(verifyManifest(file)).rejects.toThrow(/corrupt or truncated|no bk-manifest/)
    expect(readdirSync(dir).length).toBeGreaterThan(0)
  })
})

describe('zstd missing from PATH', () => {
  it('creating or reading a .tar.zst says what to install', async () => {
    const {execFileSync: run} = await import('node:child_process')
    const dir = temp()
    writeFileSync(join(dir, 'a'), 'a')
    const zst = join(dir, 'real.tar.zst')
    await createArchive({cwd: dir, file: zst, filter: (p) => p === 'a'})
    const script = `
      import {createArchive, extractArchive} from '../dist/index.js'
      const out = []
      for (const f of [() => createArchive({cwd: ${JSON.stringify(dir)}, file: ${JSON.stringify(join(dir, 'new.tar.zst'))}}),
                       () => extractArchive({file: ${JSON.stringify(zst)}, target: ${JSON.stringify(join(dir, 'x'))}})])
        out.push(await f().then(() => 'ok', (e) => e.name + ': ' + e.message))
      console.log(JSON.stringify(out))`
    const here = new URL('.', import.meta.url).pathname
    const text = run(process.execPath, ['--input-type=module', '-e', script], {cwd: here, env: {PATH: '/nonexistent'}})
    const [created, extracted] = JSON.parse(text.toString()) as string[]
    expect(created).toMatch(/^BkError: .*new\.tar\.zst: zstd compression needs the zstd program on PATH/)
    expect(extracted).toMatch(/^BkError: .*real\.tar\.zst: zstd compression needs the zstd program on PATH/)
    expect(names(dir)).toEqual(['a', 'real.tar.zst'])
  })
})

describe('names with a NUL byte (node-tar keeps what follows a NUL and a newline)', () => {
  /** A ustar header with `name` and `link` written as given (NULs included). */
  function header(name: string, type: string, link: string): Buffer {
    const h = Buffer.alloc(512)
    h.write(name, 0, 'latin1')
    h.write('0000644\0', 100)
    h.write('0000000\0', 108)
    h.write('0000000\0', 116)
    h.write('00000000000\0', 124)
    h.write('14500000000\0', 136)
    h.write(type, 156)
    h.write(link, 157, 'latin1')
    h.write('ustar\u000000', 257, 'latin1')
    h.fill(0x20, 148, 156)
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
    return h
  }

  it('are refused (the engine writing them threw out of its file calls: the process died)', async () => {
    const archives: Record<string, Buffer[]> = {
      name: [header('f\0\n\0', '0', '')],
      symlink: [header('s', '2', 'a\0\n\0')],
      hardlink: [header('f', '0', ''), header('h', '1', 'f\0\n\0')],
    }
    for (const [kind, headers] of Object.entries(archives)) {
      const {box, target} = sandbox()
      const file = join(box, 'x.tar')
      writeFileSync(file, Buffer.concat([...headers, Buffer.alloc(1024)]))
      process.env.BK_ARCHIVE_ENGINE = 'node'
      try {
        const error = await rejection(extractArchive({file, target}))
        expect(error, kind).toMatchObject({code: 'EUNSAFE'})
        expect(String(error), kind).toMatch(/NUL byte/)
      } finally {
        delete process.env.BK_ARCHIVE_ENGINE
      }
      expect(names(box), kind).toEqual(['area', 'outside', 'x.tar'])
      expect(names(join(box, 'area')), kind).toEqual([])
    }
  })
})
