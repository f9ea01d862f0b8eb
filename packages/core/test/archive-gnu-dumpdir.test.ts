// A GNU incremental archive (tar --listed-incremental: its folders are 'D' entries whose body lists their names)
// restored by the node-tar engine, as bk zodb restores the recipe's incremental blob archives: into an empty folder
// (its first entry is '.' itself) and over the tree the full archive left. node-tar's synchronous unpacker removed a
// folder already there for such an entry — the target itself included, leaving nothing to write into.
import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {extractArchive} from '../src/archive/index.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const saved = process.env.BK_ARCHIVE_ENGINE
const tar = (...args: string[]) => execFileSync('tar', args, {stdio: 'pipe'})

describe('GNU incremental archives through the node-tar engine', () => {
  it('restores a full archive into an empty folder, then its delta over it', async () => {
    process.env.BK_ARCHIVE_ENGINE = 'node'
    try {
      const work = temp()
      const src = join(work, 'src')
      mkdirSync(join(src, 'a', 'b'), {recursive: true})
      writeFileSync(join(src, 'a', 'one'), 'one v1\n')
      writeFileSync(join(src, 'a', 'b', 'two'), 'two v1\n')
      const snar = join(work, 'x.snar')
      tar('--create', `--listed-incremental=${snar}`, '-f', join(work, 'full.tar'), '-C', src, '.')
      writeFileSync(join(src, 'a', 'b', 'two'), 'two v2, longer\n')
      writeFileSync(join(src, 'a', 'three'), 'three\n')
      tar('--create', `--listed-incremental=${snar}`, '-f', join(work, 'delta.tar'), '-C', src, '.')
      // the archives hold 'D' entries, the first one '.': what the node engine must take as folders
      expect(tar('--list', '-v', '--incremental', '-f', join(work, 'full.tar')).toString()).toMatch(/^d.* \.\/$/m)

      const target = join(work, 'target')
      mkdirSync(target) // empty: filled in place (it may be a mount point)
      await extractArchive({file: join(work, 'full.tar'), target})
      expect(readFileSync(join(target, 'a', 'one'), 'utf8')).toBe('one v1\n')
      expect(readFileSync(join(target, 'a', 'b', 'two'), 'utf8')).toBe('two v1\n')

      await extractArchive({file: join(work, 'delta.tar'), target})
      expect(readFileSync(join(target, 'a', 'one'), 'utf8')).toBe('one v1\n')
      expect(readFileSync(join(target, 'a', 'b', 'two'), 'utf8')).toBe('two v2, longer\n')
      expect(readFileSync(join(target, 'a', 'three'), 'utf8')).toBe('three\n')
    } finally {
      if (saved === undefined) delete process.env.BK_ARCHIVE_ENGINE
      else process.env.BK_ARCHIVE_ENGINE = saved
    }
  })
})
