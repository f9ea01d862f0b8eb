import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {FsIndex, readIndexFile, writeIndexFile} from '../src/fsindex.js'
import {PickleReader, pickleBytesPair, pickleInt, pickleNone} from '../src/pickle.js'
import {RecordParser} from '../src/record-parser.js'
import {formatDatLine, parseDat, repoFileOf, selectChain} from '../src/repository.js'

const expected = join(extractFixture('zodb', 'expected'), 'expected')
const repo = join(extractFixture('zodb', 'repo-plain'), 'repo-plain')
const points = [
  ['p1-full', '2026-11-21-22-19-13'],
  ['p2-incr', '2026-11-21-22-19-16'],
  ['p3-incr', '2026-11-21-22-19-18'],
  ['p4-after-pack', '2026-11-21-22-19-21'],
] as const

describe('fsIndex (.index) format', () => {
  for (const [label, stamp] of points) {
    it(`an index built from ${label}'s Data.fs is byte-identical to repozo's ${stamp}.index`, async () => {
      const data = readFileSync(join(expected, label, 'Data.fs'))
      const index = new FsIndex()
      const parser = new RecordParser({start: 0, onRecord: (oid, at) => index.set(oid, at)})
      // odd chunk sizes exercise headers split across chunks
      for (let i = 0; i < data.length; i += 977) parser.push(data.subarray(i, i + 977))
      parser.end()
      const out = join(tempDir(), 'x.index')
      await writeIndexFile(out, data.length, index)
      expect(readFileSync(out)).toEqual(readFileSync(join(repo, `${stamp}.index`)))
      const back = await readIndexFile(join(repo, `${stamp}.index`))
      expect(back.pos).toBe(data.length)
      expect(back.index.size).toBe(index.size)
    })
  }

  it('dense, gappy and sparse oids, offsets past 4 GiB: the bytes of a plain per-entry encoding', async () => {
    // reference: buckets by 6-byte prefix, each entry 2-byte suffix then 6-byte offset, built with BigInt
    const reference = (pos: number, entries: [bigint, number][]) => {
      const sorted = [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      const pieces: Buffer[] = [pickleInt(pos)]
      for (let i = 0; i < sorted.length; ) {
        const prefix = sorted[i]![0] >> 16n
        let j = i
        while (j < sorted.length && sorted[j]![0] >> 16n === prefix) j++
        const n = j - i
        const b = Buffer.alloc(n * 8)
        for (let k = 0; k < n; k++) {
          b.writeUInt16BE(Number(sorted[i + k]![0] & 0xffffn), k * 2)
          b.writeUIntBE(sorted[i + k]![1], n * 2 + k * 6, 6)
        }
        const p = Buffer.alloc(8)
        p.writeBigUInt64BE(prefix << 16n)
        pieces.push(pickleBytesPair(p.subarray(0, 6), b))
        i = j
      }
      pieces.push(pickleNone())
      return Buffer.concat(pieces)
    }
    const cases: Record<string, [bigint, number][]> = {
      dense: Array.from({length: 70_000}, (_, i) => [BigInt(i), 4 + i * 97 + (i % 3 === 0 ? 2 ** 40 : 0)]),
      gappy: Array.from({length: 5000}, (_, i) => [BigInt(i * 3 + (i % 7)), 2 ** 32 + i]),
      // high oids first: they are kept aside until the table indexed by oid grows over them
      descending: Array.from({length: 150_000}, (_, i) => [BigInt(150_000 - 1 - i), 4 + i]),
      sparse: [
        [5n, 4],
        [2n ** 40n, 2 ** 33 + 1],
        [2n ** 52n + 9n, 77],
        [2n ** 60n + 1n, 2 ** 47 - 1],
        [2n ** 60n, 12],
      ],
    }
    for (const [name, entries] of Object.entries(cases)) {
      const index = new FsIndex()
      for (const [oid, at] of entries) index.setNumber(oid, at + 1)
      for (const [oid, at] of entries) index.setNumber(oid, at) // a newer record of each object replaces the first
      expect(index.size, name).toBe(entries.length)
      const out = join(tempDir(), `${name}.index`)
      await writeIndexFile(out, 123_456_789_012, index)
      expect(readFileSync(out).equals(reference(123_456_789_012, entries)), name).toBe(true)
      const back = await readIndexFile(out)
      expect([...back.index.sorted()], name).toEqual(
        [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
      )
    }
  })

  it('pickles ints the way CPython does', () => {
    const hex = (n: number | bigint) => pickleInt(n).toString('hex')
    expect(hex(5)).toBe('80034b052e')
    expect(hex(56484)).toBe('80034da4dc2e')
    expect(hex(70000)).toBe('80034a70110100' + '2e')
    expect(hex(2 ** 31)).toBe('80038a05000000800' + '02e')
    expect(hex(2 ** 40)).toBe('80038a0600000000000' + '1' + '2e')
    for (const n of [0, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 47 + 3]) {
      expect(new PickleReader(pickleInt(n)).next()).toBe(n)
    }
  })

  it('rejects a truncated Data.fs', () => {
    const data = readFileSync(join(expected, 'p1-full', 'Data.fs'))
    const parser = new RecordParser({start: 0})
    parser.push(data.subarray(0, data.length - 3))
    expect(() => parser.end()).toThrow(/data ends inside a transaction/)
    const bad = Buffer.from(data)
    bad.write('FS21', 0)
    expect(() => new RecordParser({start: 0}).push(bad)).toThrow(/FS30/)
  })
})

describe('.dat lines', () => {
  it('match repozo: Python os.path.join of the -r argument, no normalisation', () => {
    expect(formatDatLine('repo-plain', 'a.fs', 0, 10, 'f'.repeat(32))).toBe(`repo-plain/a.fs 0 10 ${'f'.repeat(32)}\n`)
    expect(formatDatLine('./x/', 'a.fs', 0, 10, 'f'.repeat(32))).toBe(`./x/a.fs 0 10 ${'f'.repeat(32)}\n`)
    const text = readFileSync(join(repo, '2026-11-21-22-19-13.dat'), 'utf8')
    const lines = parseDat(text, 'x.dat')
    expect(lines.map((l) => formatDatLine('repo-plain', l.name, l.start, l.end, l.md5)).join('')).toBe(text)
    expect(parseDat('/my backups/2026-01-01-00-00-00.fs 0 4 ' + 'a'.repeat(32), 'y')[0]!.name).toBe(
      '2026-01-01-00-00-00.fs',
    )
  })

  it('chain selection follows repozo: same-second delta after its full is dropped', () => {
    const files = ['2024-01-01-00-00-00.fs', '2024-01-01-00-00-05.deltafs', '2024-01-01-00-00-05.fs'].map((n) =>
      repoFileOf('/r', n),
    )
    expect(selectChain(files).map((f) => f.name)).toEqual(['2024-01-01-00-00-05.fs'])
    expect(selectChain(files, '2024-01-01-00-00-04').map((f) => f.name)).toEqual(['2024-01-01-00-00-00.fs'])
    expect(selectChain(files, '2024-01-01').map((f) => f.name)).toEqual([])
  })
})
