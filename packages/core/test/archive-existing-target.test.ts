// Extracting into a folder that already has content (a restore over an old tree) goes through the node-tar engine
// with every entry written by plain synchronous fs calls: what was there is replaced, never rewritten in place, and
// the archive's bytes, modes, owners and mtimes win; a hard link to an old file from outside keeps the old bytes.
import {linkSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, digestsOf, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)

const stale = new Date('2020-01-01T00:00:00Z')

/** An old version of makeTree's tree: other bytes, modes and mtimes, and things of another kind in some places. */
function oldTree(root: string): void {
  const f = (p: string, mode = 0o600) => {
    writeFileSync(join(root, p), `old ${p}\n`, {mode})
    utimesSync(join(root, p), stale, stale)
  }
  for (const p of ['conf', 'files', 'private', 'readonly-dir']) mkdirSync(join(root, p), {recursive: true})
  for (const p of ['conf/app.ini', 'conf/secret.env', 'conf/group-writable.txt', 'run.sh', 'files/picture.bin']) f(p)
  f('private/key', 0o644)
  // a file where the archive has a symlink, an empty folder where it has a file, a symlink where it has a file
  f('dangling')
  mkdirSync(join(root, 'setuid-tool'))
  symlinkSync('conf/app.ini', join(root, 'readonly-dir/inside.txt'))
  f('mine.txt', 0o644)
}

describe('extracting into a folder with content', () => {
  it('replaces every archived path with its bytes, mode, owner and mtime; links from outside keep the old file', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    makeTree(src)
    const file = join(dir, 'a.tar.gz')
    await createArchive({cwd: src, file})
    const target = join(dir, 'target')
    oldTree(target)
    // hard links to the old files from outside the target: a rewrite in place would change them too
    linkSync(join(target, 'conf/app.ini'), join(dir, 'outside-app.ini'))
    linkSync(join(target, 'files/picture.bin'), join(dir, 'outside-picture.bin'))
    const oldInode = statSync(join(target, 'conf/app.ini')).ino

    const result = await extractArchive({file, target})

    expect(result.bytes).toBeGreaterThan(3 * 1024 * 1024)
    expect(snapshot(target, {skip: ['mine.txt']})).toEqual(snapshot(src))
    expect(readFileSync(join(target, 'mine.txt'), 'utf8')).toBe('old mine.txt\n')
    expect(readFileSync(join(dir, 'outside-app.ini'), 'utf8')).toBe('old conf/app.ini\n')
    expect(readFileSync(join(dir, 'outside-picture.bin'), 'utf8')).toBe('old files/picture.bin\n')
    expect(statSync(join(dir, 'outside-app.ini')).mode & 0o7777).toBe(0o600)
    expect(statSync(join(target, 'conf/app.ini')).ino).not.toBe(oldInode)
    // the archive's own hard link pair is one file again
    expect(statSync(join(target, 'app-hardlink.ini')).ino).toBe(statSync(join(target, 'conf/app.ini')).ino)
    // symlink mtimes (snapshot leaves them out)
    for (const link of ['conf/picture-link', 'dangling', 'files-link'])
      expect(Math.floor(lstatSync(join(target, link)).mtimeMs / 1000), link).toBe(
        Math.floor(lstatSync(join(src, link)).mtimeMs / 1000),
      )
  })

  it('replaces thousands of files over several read blocks, each with the archive bytes', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(src, `d${d}`), {recursive: true})
      for (let i = 0; i < 500; i++) writeFileSync(join(src, `d${d}`, `f${i}`), `new ${d}/${i} `.repeat(200))
    }
    const file = join(dir, 'many.tar.gz')
    await createArchive({cwd: src, file})
    const target = join(dir, 'target')
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(target, `d${d}`), {recursive: true})
      for (let i = 0; i < 500; i += 3) writeFileSync(join(target, `d${d}`, `f${i}`), 'old')
    }
    linkSync(join(target, 'd3/f498'), join(dir, 'outside'))

    const result = await extractArchive({file, target})

    expect(result.entries).toBe(2004) // 2000 files and their 4 folders (the existing root is not an entry written)
    expect(digestsOf(target)).toEqual(digestsOf(src))
    expect(readFileSync(join(dir, 'outside'), 'utf8')).toBe('old')
  })
})
