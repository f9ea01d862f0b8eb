// node-tar's engine (BK_ARCHIVE_ENGINE=node, and wherever GNU tar is not used) on a corrupt .tar.zst: the stage is
// removed while node-tar may still be making the entries before the bad header, which failed the removal
// (ENOTEMPTY): the stage stayed beside the target and the error said so instead of naming the archive corrupt.
import {execFileSync} from 'node:child_process'
import {readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {extractArchive} from '../src/archive/index.js'
import {rejection, temp, useTempDirs} from './archive-helpers.js'

useTempDirs()
let engine: string | undefined
beforeEach(() => {
  engine = process.env.BK_ARCHIVE_ENGINE
  process.env.BK_ARCHIVE_ENGINE = 'node'
})
afterEach(() => {
  if (engine === undefined) delete process.env.BK_ARCHIVE_ENGINE
  else process.env.BK_ARCHIVE_ENGINE = engine
})

describe('a corrupt .tar.zst through node-tar', () => {
  it('is refused as corrupt, and nothing of the stage is left', async () => {
    const dir = temp()
    // as Python's tarfile writes it (GNU format): the race shows with these headers, rarely with node-tar's own
    const tar = execFileSync('python3', [
      '-c',
      [
        'import io, random, sys, tarfile',
        'b = io.BytesIO()',
        'with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:',
        '  for name, data in [("d", None), ("d/a.txt", b"hello\\n"), ("d/big.bin", random.Random(1).randbytes(300000))]:',
        '    i = tarfile.TarInfo(name); i.mtime = 1700000000',
        '    if data is None: i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)',
        '    else: i.size = len(data); t.addfile(i, io.BytesIO(data))',
        'sys.stdout.buffer.write(b.getvalue())',
      ].join('\n'),
    ])
    // the second header's name changed after its checksum was written
    expect(tar.toString('latin1', 512, 519)).toBe('d/a.txt')
    tar[512 + 10] = 1
    const file = join(dir, 'bad.tar.zst')
    writeFileSync(file, execFileSync('zstd', ['-q', '-c'], {input: tar}))
    // a race: a few tries make it all but certain to show
    for (let i = 0; i < 8; i++) {
      const failure = await rejection(extractArchive({file, target: join(dir, `out${i}`)}))
      expect(failure.message).toMatch(/checksum failure/)
      expect(failure.code).toBe('ECORRUPT')
      expect(readdirSync(dir)).toEqual(['bad.tar.zst'])
    }
  })
})
