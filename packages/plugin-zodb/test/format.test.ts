import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {extractFixture, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {FsIndex, readIndexFile, writeIndexFile} from '../src/fsindex.js'
import {PickleReader, pickleInt} from '../src/pickle.js'
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
