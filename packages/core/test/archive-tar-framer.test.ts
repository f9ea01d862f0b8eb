// TarFramer (the GNU tar engine's reader): a header whose size and checksum fields are spelled as GNU tar spells them
// goes on as read; any other spelling goes on rewritten canonically; what is passed on is byte for byte what tar must
// frame, whatever the pieces the stream comes in.
import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {TarFramer} from '../src/archive/tar-framer.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

/**
 * Everything the framer passes on for `input` fed in pieces of `piece` bytes, each piece copied into ONE reused buffer
 * (as the extract thread reads) and what came out copied before the next piece overwrites it.
 */
function framed(input: Buffer, piece: number): Buffer {
  const framer = new TarFramer(() => true)
  const reused = Buffer.alloc(piece)
  const got: Buffer[] = []
  const out: Buffer[] = []
  for (let pos = 0; pos < input.length && !framer.ended; pos += piece) {
    const n = input.copy(reused, 0, pos, pos + piece)
    out.length = 0
    framer.push(reused.subarray(0, n), out)
    for (const b of out) got.push(Buffer.from(b))
  }
  return Buffer.concat(got)
}

/** The bytes up to (without) the end-of-archive blocks: the first all-zero block at a header's place. */
function membersOf(tar: Buffer): Buffer {
  let pos = 0
  // a header, its data rounded up to blocks, until the zero block
  for (;;) {
    const block = tar.subarray(pos, pos + 512)
    if (block.every((b) => b === 0)) return tar.subarray(0, pos)
    const size = Number.parseInt(block.toString('latin1', 124, 135), 8)
    pos += 512 + Math.ceil(size / 512) * 512
  }
}

function gnuTarOf(build: (dir: string) => void): Buffer {
  const dir = temp('bk-framer-')
  const src = join(dir, 'src')
  mkdirSync(src)
  build(src)
  const file = join(dir, 'a.tar')
  execFileSync('tar', ['--format=gnu', '-cf', file, '-C', src, '.'])
  return readFileSync(file)
}

/** A header's checksum field as GNU tar writes it (the field counted as spaces). */
function checksumField(header: Buffer): string {
  let sum = 8 * 0x20
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += header[i] as number
  return `${sum.toString(8).padStart(6, '0')}\0 `
}

describe('TarFramer passes on what tar must frame', () => {
  const tree = gnuTarOf((src) => {
    for (let d = 0; d < 40; d++) {
      mkdirSync(join(src, `d${d}`))
      writeFileSync(join(src, `d${d}`, 'empty'), '')
      writeFileSync(join(src, `d${d}`, 'small'), `file ${d}`)
    }
  })

  it("GNU tar's own archive: every member byte for byte, in any piece size (headers split between pieces too)", () => {
    const members = membersOf(tree)
    // 700: pieces that end inside one header and begin inside another, over runs of data-less headers (folders,
    // empty files): a header completed from two pieces must not be overwritten by the next one begun in the same piece
    for (const piece of [512, 700, 1000, 4096, 65536])
      expect(framed(tree, piece).equals(members), `pieces of ${piece}`).toBe(true)
  })

  it('size and checksum fields spelled otherwise are rewritten as GNU tar spells them, the rest kept', () => {
    const one = gnuTarOf((src) => writeFileSync(join(src, 'abc'), 'abc'))
    const members = membersOf(one)
    // the member 'abc' is the second header (after './')
    const at = 512
    expect(one.toString('latin1', at, at + 3)).toBe('./a')
    const variants: [string, (h: Buffer) => void][] = [
      // size with leading spaces and a trailing space (node-tar and old tars), checksum recomputed canonically
      [
        'size',
        (h) => {
          h.write('         3 \0', 124, 12, 'latin1')
          h.write(checksumField(h), 148, 8, 'latin1')
        },
      ],
      // checksum as 7 digits and a NUL (another common spelling)
      ['checksum', (h) => h.write(`${checksumField(h).slice(0, 6).padStart(7, '0')}\0`, 148, 8, 'latin1')],
    ]
    for (const [what, mutate] of variants) {
      const changed = Buffer.from(one)
      const header = changed.subarray(at, at + 512)
      mutate(header)
      expect(header.equals(one.subarray(at, at + 512)), what).toBe(false)
      for (const piece of [512, 700, 65536])
        expect(framed(changed, piece).equals(members), `${what}, pieces of ${piece}`).toBe(true)
    }
  })

  it('a pax size larger than the header says: the header passed on says the pax size', () => {
    const dir = temp('bk-framer-')
    const file = join(dir, 'big.tar')
    // a 9-byte file whose ustar header says 0: the pax size is the one tar reads
    execFileSync('python3', [
      '-c',
      `import tarfile, io, sys
t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo('f'); i.size = 9; i.pax_headers = {'size': '9'}; t.addfile(i, io.BytesIO(b'123456789'))
t.close()
raw = bytearray(open(sys.argv[1], 'rb').read())
h = 1024  # after the pax header and its body
raw[h + 124:h + 136] = b'00000000000\\0'
s = sum(raw[h:h + 148]) + 256 + sum(raw[h + 156:h + 512])
raw[h + 148:h + 156] = b'%06o\\0 ' % s
open(sys.argv[1], 'wb').write(bytes(raw))`,
      file,
    ])
    const tar = readFileSync(file)
    expect(tar.toString('latin1', 1024 + 124, 1024 + 135)).toBe('00000000000')
    const out = framed(tar, 700)
    const header = out.subarray(1024, 1536)
    expect(header.toString('latin1', 124, 136)).toBe('00000000011\0')
    expect(header.toString('latin1', 148, 156)).toBe(checksumField(header))
    expect(out.subarray(1536, 1545).toString()).toBe('123456789')
  })
})
