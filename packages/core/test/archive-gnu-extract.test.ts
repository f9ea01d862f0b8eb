// Extraction written by GNU tar behind bk's entry checks (gnu-extract.ts): the same tree as the node-tar engine, the
// name tar will use is the one checked (pax path, GNU long name), framing tar cannot misread, and whatever the reader
// does not model falls back to node-tar in an emptied folder.
import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {delimiter, join} from 'node:path'
import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
const realTar = execFileSync('sh', ['-c', 'command -v tar'], {encoding: 'utf8'}).trim()

/** A tar on PATH that logs each run, then runs the real GNU tar: shows which engine wrote the files. */
let log = ''
let savedPath: string | undefined
beforeEach(() => {
  const bin = temp('bk-tarlog-')
  log = join(bin, 'runs.log')
  writeFileSync(join(bin, 'tar'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${realTar}' "$@"\n`, {mode: 0o755})
  savedPath = process.env.PATH
  process.env.PATH = `${bin}${delimiter}${process.env.PATH}`
})
afterEach(() => {
  process.env.PATH = savedPath
  delete process.env.BK_ARCHIVE_ENGINE
})
const tarExtracted = () => existsSync(log) && readFileSync(log, 'utf8').includes('--extract')

/** Runs a Python tarfile script writing the archive at argv[1]. */
function py(file: string, script: string): string {
  execFileSync(PY, ['-c', `import sys, tarfile, io\nout = sys.argv[1]\n${script}`, file])
  return file
}

async function bothEngines(file: string): Promise<{gnu: string[]; node: string[]; gnuUsed: boolean}> {
  const dir = temp()
  await extractArchive({file, target: join(dir, 'gnu')})
  const gnuUsed = tarExtracted()
  process.env.BK_ARCHIVE_ENGINE = 'node'
  await extractArchive({file, target: join(dir, 'node')})
  delete process.env.BK_ARCHIVE_ENGINE
  return {gnu: snapshot(join(dir, 'gnu')), node: snapshot(join(dir, 'node')), gnuUsed}
}

describe('GNU tar writes what node-tar wrote', () => {
  it('modes (setuid, read-only folders), mtimes, symlinks, hard links, long names: the same tree', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    const long = `${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(120)}`
    mkdirSync(join(src, long), {recursive: true})
    writeFileSync(join(src, long, `${'n'.repeat(150)}.txt`), 'deep')
    writeFileSync(join(src, 'setuid'), 'x')
    chmodSync(join(src, 'setuid'), 0o4755)
    writeFileSync(join(src, 'private'), 'p')
    chmodSync(join(src, 'private'), 0o600)
    mkdirSync(join(src, 'ro'))
    writeFileSync(join(src, 'ro', 'inside'), 'in')
    chmodSync(join(src, 'ro'), 0o555)
    symlinkSync('ro/inside', join(src, 'link'))
    symlinkSync(`${long}/${'n'.repeat(150)}.txt`, join(src, 'longlink'))
    linkSync(join(src, 'private'), join(src, 'hard'))
    writeFileSync(join(src, 'big'), Buffer.alloc(3 * 1024 * 1024 + 7, 'z'))
    const file = join(dir, 'a.tar.gz')
    await createArchive({cwd: src, file})
    const {gnu, node, gnuUsed} = await bothEngines(file)
    expect(gnuUsed).toBe(true)
    expect(gnu).toEqual(node)
    expect(gnu).toEqual(snapshot(src))
    chmodSync(join(src, 'ro'), 0o755)
  })

  it('a pax archive (long and non-ASCII names, times) and a GNU one from Python: the same tree', async () => {
    const dir = temp()
    for (const format of ['PAX_FORMAT', 'GNU_FORMAT', 'USTAR_FORMAT']) {
      const file = py(
        join(dir, `${format}.tar`),
        `t = tarfile.open(out, 'w', format=tarfile.${format})
def add(name, data=None, kind=tarfile.REGTYPE, link='', mode=0o644):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.mode = mode; i.mtime = 1700000000
    if data is not None: i.size = len(data)
    t.addfile(i, io.BytesIO(data) if data is not None else None)
add('top', kind=tarfile.DIRTYPE, mode=0o750)
add('top/${'p'.repeat(70)}', kind=tarfile.DIRTYPE)
add('top/${'p'.repeat(70)}/${'q'.repeat(70)}', kind=tarfile.DIRTYPE)
add('top/${'p'.repeat(70)}/${'q'.repeat(70)}/file', b'prefixed')
add('top/plain', b'plain')
add('top/l', kind=tarfile.SYMTYPE, link='plain')
add('top/h', kind=tarfile.LNKTYPE, link='top/plain')
${format === 'USTAR_FORMAT' ? '' : `add('top/${'r'.repeat(200)}', b'long')\nadd('top/caf\\u00e9', b'utf8')`}
t.close()`,
      )
      const {gnu, node, gnuUsed} = await bothEngines(file)
      expect(gnuUsed, format).toBe(true)
      expect(gnu, format).toEqual(node)
      expect(gnu.length, format).toBeGreaterThan(4)
    }
  })
})

describe('tar extracts only what bk checked', () => {
  it("a pax path with '..' behind a harmless ustar name is refused; nothing is left", async () => {
    const dir = temp()
    const file = py(
      join(dir, 'x.tar'),
      `t = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo('first'); i.size = 1; t.addfile(i, io.BytesIO(b'1'))
i = tarfile.TarInfo('harmless'); i.size = 4; i.pax_headers = {'path': '../evil'}; t.addfile(i, io.BytesIO(b'evil'))
t.close()`,
    )
    const target = join(dir, 'out')
    await expect(extractArchive({file, target})).rejects.toMatchObject({code: 'EUNSAFE'})
    await expect(extractArchive({file, target})).rejects.toThrow(/'\.\.\/evil'/)
    expect(existsSync(target)).toBe(false)
    expect(existsSync(join(dir, 'evil'))).toBe(false)
    expect(readdirSync(dir).sort()).toEqual(['x.tar'])
  })

  it("a GNU long name with '..' (the ustar name cut short and harmless) is refused", async () => {
    const dir = temp()
    const name = `${'a'.repeat(110)}/../../evil`
    const file = py(
      join(dir, 'x.tar'),
      `t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
i = tarfile.TarInfo('${name}'); i.size = 4; t.addfile(i, io.BytesIO(b'evil'))
t.close()`,
    )
    const target = join(dir, 'out')
    await expect(extractArchive({file, target})).rejects.toMatchObject({code: 'EUNSAFE'})
    expect(existsSync(target)).toBe(false)
    expect(existsSync(join(dir, 'evil'))).toBe(false)
  })

  it('a file whose content is a tar header, its size in base-256: extracted as content, nothing else', async () => {
    const dir = temp()
    const file = py(
      join(dir, 'x.tar'),
      `inner = tarfile.TarInfo('../../evil'); inner.size = 0
payload = inner.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'strict') + bytes(512)
t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
i = tarfile.TarInfo('carrier'); i.size = len(payload); t.addfile(i, io.BytesIO(payload))
t.close()
raw = bytearray(open(out, 'rb').read())
size = bytearray(12); size[0] = 0x80; size[8:12] = len(payload).to_bytes(4, 'big')
raw[124:136] = size
raw[148:156] = b'        '
raw[148:156] = ('%06o' % sum(raw[0:512])).encode() + b'\\0 '
open(out, 'wb').write(bytes(raw))`,
    )
    const {gnu, node, gnuUsed} = await bothEngines(file)
    expect(gnuUsed).toBe(true)
    expect(gnu).toEqual(node)
    expect(gnu.map((l) => l.split(' ')[0])).toEqual(['carrier'])
    expect(existsSync(join(dir, '..', 'evil'))).toBe(false)
  })

  it('a header with a bad checksum is corrupt, under both engines', async () => {
    const dir = temp()
    const file = py(
      join(dir, 'x.tar'),
      `t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
for n in ('a', 'b'):
    i = tarfile.TarInfo(n); i.size = 1; t.addfile(i, io.BytesIO(b'1'))
t.close()
raw = bytearray(open(out, 'rb').read()); raw[1024] = ord('c'); open(out, 'wb').write(bytes(raw))`,
    )
    await expect(extractArchive({file, target: join(dir, 'gnu')})).rejects.toMatchObject({code: 'ECORRUPT'})
    process.env.BK_ARCHIVE_ENGINE = 'node'
    await expect(extractArchive({file, target: join(dir, 'node')})).rejects.toMatchObject({code: 'ECORRUPT'})
    expect(readdirSync(dir).sort()).toEqual(['x.tar'])
  })

  it('one zero block and nothing else is no archive; both end blocks alone are an empty one (both engines)', async () => {
    const dir = temp()
    const one = join(dir, 'one.tar')
    writeFileSync(one, Buffer.alloc(512))
    const two = join(dir, 'two.tar')
    writeFileSync(two, Buffer.alloc(1024))
    for (const engine of ['gnu', 'node']) {
      if (engine === 'node') process.env.BK_ARCHIVE_ENGINE = 'node'
      await expect(extractArchive({file: one, target: join(dir, `${engine}-1`)}), engine).rejects.toMatchObject({
        code: 'ECORRUPT',
      })
      expect(await extractArchive({file: two, target: join(dir, `${engine}-2`)}), engine).toEqual({
        entries: 0,
        bytes: 0,
      })
    }
    expect(readdirSync(dir).sort()).toEqual(['gnu-2', 'node-2', 'one.tar', 'two.tar'])
  })

  it('what the reader does not model (a global pax header) is extracted by node-tar into an emptied folder', async () => {
    const dir = temp()
    const file = py(
      join(dir, 'x.tar'),
      `t = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT, pax_headers={'comment': 'global'})
for n in ('a', 'b'):
    i = tarfile.TarInfo(n); i.size = 1; t.addfile(i, io.BytesIO(b'1'))
t.close()`,
    )
    const {gnu, node} = await bothEngines(file)
    expect(gnu).toEqual(node)
    expect(gnu.map((l) => l.split(' ')[0])).toEqual(['a', 'b'])
  })

  it('tar failing to write (a folder where a file goes, in an empty target) fails the extract and empties it', async () => {
    const dir = temp()
    const file = py(
      join(dir, 'x.tar'),
      `t = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
i = tarfile.TarInfo('d'); i.type = tarfile.DIRTYPE; t.addfile(i)
i = tarfile.TarInfo('d/x'); i.size = 1; t.addfile(i, io.BytesIO(b'1'))
i = tarfile.TarInfo('d'); i.size = 1; t.addfile(i, io.BytesIO(b'2'))
t.close()`,
    )
    const target = join(dir, 'out')
    mkdirSync(target)
    const failed = await extractArchive({file, target}).then(
      () => undefined,
      (error: Error) => error,
    )
    expect(failed?.message).toMatch(/^extracting \S*x\.tar into \S*out failed: d: /)
    expect(readdirSync(target)).toEqual([])
  })
})

describe('openTarFast: a decoder that fails without a word', () => {
  it('names the status alone, with no empty or "undefined" reason after it', async () => {
    const {openTarFast} = await import('../src/archive/gnu-extract.js')
    const dir = temp('bk-mute-')
    const mute = join(dir, 'mute-pigz')
    writeFileSync(mute, '#!/bin/sh\nexit 3\n', {mode: 0o755})
    const file = join(dir, 'a.tar.gz')
    writeFileSync(file, Buffer.from([0x1f, 0x8b, 8, 0]))
    const source = await openTarFast(file, {program: mute, args: [], kind: 'gzip'})
    source.attached()
    for await (const _ of source.stream) void _
    const failure = await source.verdict().then(
      () => undefined,
      (error: Error & {code?: string}) => error,
    )
    expect(failure?.message).toBe('incorrect data: pigz exited with status 3')
    expect(failure?.code).toBe('Z_DATA_ERROR')
  })
})
