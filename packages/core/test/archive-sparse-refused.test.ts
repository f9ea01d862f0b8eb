// A sparse file (GNU tar --sparse) is a type node-tar does not know: its reader skipped the 'S' entry before bk's
// checks saw it, and read a PAX sparse file as a plain one, a folder GNUSparseFile.<pid> holding the file's map and
// data. Either way the restore said it succeeded with the file missing. Now refused, with nothing written.
import {execFileSync} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {checkArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, rejection, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

function sparseArchives(dir: string): string[] {
  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'plain'), 'plain\n')
  const fd = openSync(join(src, 'disk.img'), 'w')
  writeSync(fd, 'data after a hole\n', 4 * 1024 * 1024)
  closeSync(fd)
  return ['gnu', 'posix'].map((format) => {
    const file = join(dir, `${format}.tar`)
    execFileSync('tar', ['--create', '--sparse', `--format=${format}`, '-f', file, '-C', src, '.'])
    return file
  })
}

describe('sparse files', () => {
  it('are refused, into a folder with content and into a new one, and checkArchive names them', async () => {
    const dir = temp()
    for (const file of sparseArchives(dir)) {
      const existing = join(dir, `old-${readdirSync(dir).length}`)
      mkdirSync(existing)
      writeFileSync(join(existing, 'plain'), 'old\n')
      const error = await rejection(extractArchive({file, target: existing}))
      expect(error.message, file).toMatch(/disk\.img.*a sparse file \(tar --sparse\), which bk cannot restore/)
      expect(readdirSync(existing)).toEqual(['plain'])
      expect(readFileSync(join(existing, 'plain'), 'utf8')).toBe('old\n')

      const fresh = join(dir, `new-${readdirSync(dir).length}`)
      const again = await rejection(extractArchive({file, target: fresh}))
      expect(again.message, file).toMatch(/a sparse file/)
      expect(existsSync(fresh)).toBe(false)

      const checked = await checkArchive(file)
      expect(checked.unsafe.join('\n'), file).toMatch(/disk\.img: a sparse file/)
    }
  })
})
