import {execFileSync} from 'node:child_process'
import {chmodSync, mkdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {checkArchive, createArchive, extractArchive, listArchive, readArchiveMember} from '../src/archive/index.js'
import {createBkArchive, MANIFEST_NAME, readManifest, verifyManifest} from '../src/manifest/index.js'
import {cleanupTemp, snapshot, temp} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

afterAll(cleanupTemp)

const gnuList = (file: string) => execFileSync('tar', ['-tzf', file]).toString().trim().split('\n')

async function listed(file: string): Promise<string[]> {
  const paths: string[] = []
  for await (const e of listArchive(file)) paths.push(e.path)
  return paths
}

function tree(): {root: string; src: string} {
  const root = temp()
  const src = join(root, 'src')
  makeTree(src)
  chmodSync(src, 0o2751) // the root entry carries the folder's own mode
  return {root, src}
}

describe("createArchive({dotSlash}): './'-prefixed members, like tar -C dir -czf f .", () => {
  it("writes './' first and './x' names that GNU tar lists, extracts and finds by './name'", async () => {
    const {root, src} = tree()
    const file = join(root, 'dot.tar.gz')
    const result = await createArchive({cwd: src, file, dotSlash: true})
    const names = gnuList(file)
    expect(names[0]).toBe('./')
    expect(names.every((n) => n.startsWith('./'))).toBe(true)
    expect(names).toContain('./conf/app.ini')
    expect(names).toContain('./files/')
    expect(result.entries).toBe(names.length)
    // the same members as without the option, plus the root entry
    const plain = join(root, 'plain.tar.gz')
    await createArchive({cwd: src, file: plain})
    expect(gnuList(plain).some((n) => n.startsWith('./'))).toBe(false)
    expect((await listed(file)).sort()).toEqual(['.', ...(await listed(plain))].sort())
    const rootEntry = (await listArchive(file).next()).value
    expect(rootEntry).toMatchObject({path: '.', type: 'directory', mode: 0o2751})

    // GNU tar: `tar xzf f ./conf/app.ini` finds the member, and a full extraction matches the source
    const gnu = join(root, 'gnu')
    mkdirSync(gnu)
    execFileSync('tar', ['-xzf', file, '-C', gnu, './run.sh'])
    expect(readFileSync(join(gnu, 'run.sh'), 'utf8')).toBe(readFileSync(join(src, 'run.sh'), 'utf8'))

    // bk: safety checks accept it, extraction keeps everything (the root's mode too), lookups ignore the prefix
    expect(await checkArchive(file)).toMatchObject({unsafe: []})
    const out = join(root, 'out')
    const extracted = await extractArchive({file, target: out})
    expect(extracted.entries).toBe(result.entries)
    expect(snapshot(out)).toEqual(snapshot(src))
    expect(statSync(out).mode & 0o7777).toBe(0o2751)
    expect(statSync(join(out, 'app-hardlink.ini')).ino).toBe(statSync(join(out, 'conf/app.ini')).ino)
    for (const name of ['run.sh', './run.sh'])
      expect((await readArchiveMember(file, name))?.toString()).toBe('#!/bin/sh\necho hi\n')
    // extracting into a folder with content (precheck pass) works the same
    await extractArchive({file, target: out})
    expect(snapshot(out)).toEqual(snapshot(src))
  })

  it("applies to prepended members, listed entries and filters (which see names without './')", async () => {
    const {root, src} = tree()
    const file = join(root, 'some.tar')
    const seen: string[] = []
    await createArchive({
      cwd: src,
      file,
      dotSlash: true,
      entries: ['conf', './run.sh'],
      prepend: [{name: 'info.txt', content: 'hello'}],
      filter: (p) => {
        seen.push(p)
        return p !== 'conf/secret.env'
      },
    })
    const names = execFileSync('tar', ['-tf', file]).toString().trim().split('\n')
    expect(names.slice(0, 3)).toEqual(['./info.txt', './', './conf/'])
    expect(names).toContain('./run.sh')
    expect(names).not.toContain('./conf/secret.env')
    expect(seen).toContain('conf/secret.env')
    expect(seen.some((p) => p.startsWith('./') || p === '.')).toBe(false)
    expect((await readArchiveMember(file, 'info.txt'))?.toString()).toBe('hello')
  })

  it('makes a bk archive whose manifest stays first and verifies, before and after extraction', async () => {
    const {root, src} = tree()
    const file = join(root, 'bk.tar.zst')
    const r = await createBkArchive({
      cwd: src,
      file,
      dotSlash: true,
      meta: {
        plugin: {name: '@bkcli/core', version: '0'},
        application: 'test',
        kind: 'full',
        source: src,
        components: [{type: 'files', path: '.', count: 1, bytes: 1}],
      },
    })
    const names = execFileSync('tar', ['--zstd', '-tf', file]).toString().trim().split('\n')
    expect(names[0]).toBe(MANIFEST_NAME)
    expect(names[1]).toBe('./')
    expect(r.manifest.files.every((f) => !f.path.startsWith('.'))).toBe(true)
    expect(r.manifest.files.map((f) => f.path)).toContain('conf/app.ini')
    expect(await readManifest(file)).toEqual(r.manifest)
    const v = await verifyManifest(file)
    expect(v).toMatchObject({ok: true, missing: [], changed: [], extra: []})
    expect(v.checked).toBe(r.manifest.files.length)
    const out = join(root, 'out')
    await extractArchive({file, target: out})
    expect((await verifyManifest(out)).ok).toBe(true)
    expect(snapshot(out, {skip: [MANIFEST_NAME]})).toEqual(snapshot(src))
  })
})
