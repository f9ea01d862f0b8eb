import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  appendFileSync,
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {hotcopy, TracEnvironment} from '../src/index.js'
import {topUpTree} from '../src/top-up.js'
import {fixtureEnv, treeListing} from './helpers.js'

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

describe('topUpTree', () => {
  it('reports the size it copied when a file shrank after the walk saw it (a log cut by logrotate)', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(join(src, 'log'), {recursive: true})
    const copy = join(dir, 'copy')
    execFileSync('cp', ['-a', src, copy])
    // two new files in one folder: the walk has seen both when the first is reported; the other is then cut
    writeFileSync(join(src, 'log/a.log'), Buffer.alloc(100_000, 97))
    writeFileSync(join(src, 'log/b.log'), Buffer.alloc(100_000, 98))
    const sizes = new Map<string, number>()
    const result = await topUpTree(
      src,
      copy,
      () => false,
      (path, target, size) => {
        if (sizes.size === 0) {
          const other = path.endsWith('a.log') ? 'log/b.log' : 'log/a.log'
          writeFileSync(join(src, other), 'cut\n')
        }
        sizes.set(path, size)
        expect(statSync(target).size).toBe(size)
      },
    )
    const total = [...sizes.values()].reduce((a, b) => a + b, 0)
    expect(result.bytes).toBe(total)
    expect(total).toBe(100_000 + 4)
  })

  it('copies what appeared or changed after a tree copy, keeps modes and mtimes, leaves the rest alone', async () => {
    const dir = tempDir()
    const src = join(dir, 'src')
    mkdirSync(join(src, 'files/attachments/ticket/a'), {recursive: true})
    writeFileSync(join(src, 'files/attachments/ticket/a/old.txt'), 'old attachment')
    writeFileSync(join(src, 'trac.log'), 'line 1\n')
    writeFileSync(join(src, 'gone.txt'), 'removed after the copy')
    writeFileSync(join(src, 'db.skip'), 'left out')
    const copy = join(dir, 'copy')
    execFileSync('cp', ['-a', src, copy])
    const untouched = statSync(join(copy, 'files/attachments/ticket/a/old.txt')).ino
    // after the copy: a new attachment in a new folder, a log that grew, a new symlink, a file removed
    mkdirSync(join(src, 'files/attachments/ticket/b'), {mode: 0o750})
    chmodSync(join(src, 'files/attachments/ticket/b'), 0o750)
    writeFileSync(join(src, 'files/attachments/ticket/b/new.bin'), Buffer.from([0, 1, 2, 255]))
    chmodSync(join(src, 'files/attachments/ticket/b/new.bin'), 0o640)
    utimesSync(join(src, 'files/attachments/ticket/b/new.bin'), 1_000_000, 1_000_000)
    appendFileSync(join(src, 'trac.log'), 'line 2\n')
    symlinkSync('trac.log', join(src, 'log-link'))
    writeFileSync(join(src, 'db.skip'), 'changed, still left out')
    execFileSync('rm', [join(src, 'gone.txt')])
    const copied: string[] = []
    const result = await topUpTree(
      src,
      copy,
      (path) => path === 'db.skip',
      (path, target, size) => {
        copied.push(path)
        expect(statSync(target).size).toBe(size)
      },
    )
    expect(copied.sort()).toEqual(['files/attachments/ticket/b/new.bin', 'trac.log'])
    expect(result).toEqual({files: 1, bytes: 4 + 14, symlinks: 1})
    expect(readFileSync(join(copy, 'files/attachments/ticket/b/new.bin'))).toEqual(Buffer.from([0, 1, 2, 255]))
    expect(readFileSync(join(copy, 'trac.log'), 'utf8')).toBe('line 1\nline 2\n')
    expect(readlinkSync(join(copy, 'log-link'))).toBe('trac.log')
    expect(readFileSync(join(copy, 'gone.txt'), 'utf8')).toBe('removed after the copy')
    expect(readFileSync(join(copy, 'db.skip'), 'utf8')).toBe('left out')
    expect(statSync(join(copy, 'files/attachments/ticket/a/old.txt')).ino).toBe(untouched)
    // modes and mtimes as in the source: the new file, the new folder, and the folders whose entries changed
    for (const path of [
      'files/attachments/ticket/b/new.bin',
      'files/attachments/ticket/b',
      'files/attachments/ticket',
    ]) {
      const [s, c] = [lstatSync(join(src, path)), lstatSync(join(copy, path))]
      expect({path, mode: c.mode & 0o7777, mtime: Math.round(c.mtimeMs)}).toEqual({
        path,
        mode: s.mode & 0o7777,
        mtime: Math.round(s.mtimeMs),
      })
    }
    expect(Math.round(lstatSync(copy).mtimeMs)).toBe(Math.round(lstatSync(src).mtimeMs))
  })
})

describe('bk trac hotcopy: the tree is copied while the database is', () => {
  it('a file added to the env after the walk passed its folder is in the copy and its manifest', async () => {
    const envDir = fixtureEnv('sqlite-env')
    const env = await TracEnvironment.open(envDir)
    const dest = join(tempDir(), 'copy')
    let added = false
    // the walk lists the env's top folder first: a file created there once copying began is behind the walk
    const result = await hotcopy(env, dest, {
      onProgress: () => {
        if (added) return
        added = true
        writeFileSync(join(envDir, 'uploaded-during-copy.txt'), 'an attachment whose row may be in the snapshot')
      },
    })
    expect(added).toBe(true)
    expect(readFileSync(join(dest, 'uploaded-during-copy.txt'), 'utf8')).toBe(
      'an attachment whose row may be in the snapshot',
    )
    // the whole env, as it is now, except the database file (a snapshot) and the manifest
    const skip = (rel: string) => rel === 'bk-manifest.json' || rel === 'db/trac.db'
    expect(treeListing(dest, skip)).toEqual(treeListing(envDir, skip))
    expect(result.files).toBe(Object.values(treeListing(dest, skip)).filter((v) => v.startsWith('file ')).length)
    const manifest = JSON.parse(readFileSync(join(dest, 'bk-manifest.json'), 'utf8')) as {
      files: {path: string; size: number; sha256: string}[]
    }
    const entry = manifest.files.find((f) => f.path === 'uploaded-during-copy.txt')
    expect(entry).toEqual({
      path: 'uploaded-during-copy.txt',
      size: statSync(join(dest, 'uploaded-during-copy.txt')).size,
      sha256: sha256(join(dest, 'uploaded-during-copy.txt')),
    })
  })

  it('a hard link to the live database elsewhere in the env is copied (after the snapshot, as a plain file)', async () => {
    const envDir = fixtureEnv('sqlite-env')
    mkdirSync(join(envDir, 'old'))
    linkSync(join(envDir, 'db/trac.db'), join(envDir, 'old/trac.db.link'))
    const dest = join(tempDir(), 'copy')
    const result = await hotcopy(await TracEnvironment.open(envDir), dest)
    expect(readFileSync(join(dest, 'old/trac.db.link')).equals(readFileSync(join(envDir, 'db/trac.db')))).toBe(true)
    expect(statSync(join(dest, 'old/trac.db.link')).nlink).toBe(1)
    expect(result.database?.path).toBe('db/trac.db')
    const manifest = JSON.parse(readFileSync(join(dest, 'bk-manifest.json'), 'utf8')) as {
      files: {path: string; size: number; sha256: string}[]
    }
    expect(manifest.files.find((f) => f.path === 'old/trac.db.link')?.sha256).toBe(
      sha256(join(dest, 'old/trac.db.link')),
    )
  })
})
