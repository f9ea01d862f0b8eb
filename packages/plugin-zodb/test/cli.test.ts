// End-to-end: the built `bk` binary on the `live` fixture (Data.fs with .index/.lock/.tmp/.old beside it,
// a bushy blob storage with read-only blobs, tmp/ and a blobstorage.old left by a pack).
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {extractFixture, runBk} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {SyntheticStorage} from '../src/synthetic-storage.js'

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')

function tree(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, {withFileTypes: true})) {
      const p = join(d, e.name)
      out.push(relative(dir, p) + (e.isDirectory() ? '/' : ''))
      if (e.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out.sort()
}

describe('bk zodb on a live site', () => {
  it('backs up (excluding transient files), hard-links unchanged blobs, restores by date, refuses a locked storage', async () => {
    const root = extractFixture('zodb', 'live')
    const live = join(root, 'live')
    const datafs = join(live, 'Data.fs')
    const blobs = join(live, 'blobstorage')
    const site = ['--datafs', datafs, '--blob-storage', blobs, '--location-prefix', join(root, 'var')]
    const original = readFileSync(datafs)
    const blobsBefore = tree(blobs)

    const first = await runBk(['zodb', 'backup', ...site, '--json'])
    expect(first.stderr).not.toMatch(/bk:/) // --json: narration goes to stderr
    expect(first.exitCode).toBe(0)
    const r1 = first.json<{storages: {filestorage: {kind: string; file: string}; blobs: {path: string}}[]}>()
    expect(r1.storages[0]!.filestorage.kind).toBe('full')
    const repo = join(root, 'var', 'backups')
    const names = readdirSync(repo).sort()
    const stamp1 = names[0]!.slice(0, 19)
    expect(names).toEqual([`${stamp1}.dat`, `${stamp1}.fsz`, `${stamp1}.fsz.bk.json`, `${stamp1}.index`])
    // the backup holds the blob dir itself, without tmp/; blobstorage.old (a sibling) is not touched
    const blob1 = join(root, 'var', 'blobstoragebackups', `blobstorage.${stamp1}`)
    expect(tree(blob1)).toEqual([
      'blobstorage/',
      ...blobsBefore.filter((p) => !p.startsWith('tmp')).map((p) => `blobstorage/${p}`),
    ])
    expect(readdirSync(join(root, 'var', 'blobstoragebackups')).sort()).toEqual([`blobstorage.${stamp1}`, 'latest'])

    // no change: nothing new
    const again = await runBk(['zodb', 'backup', ...site, '--json'])
    expect(again.exitCode).toBe(0)
    expect(again.json<{storages: {filestorage: {kind: string}; blobs: {kind: string}}[]}>().storages[0]).toMatchObject({
      filestorage: {kind: 'none'},
      blobs: {kind: 'none'},
    })

    // a commit and a new read-only blob
    SyntheticStorage.open(datafs).commit({oids: [0, 999], size: 500})
    const newBlobDir = join(blobs, '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x03', '0xe7')
    mkdirSync(newBlobDir, {recursive: true})
    writeFileSync(join(newBlobDir, '0x0400000000000001.blob'), 'new blob')
    chmodSync(join(newBlobDir, '0x0400000000000001.blob'), 0o444)
    await new Promise((r) => setTimeout(r, 1100))
    const second = await runBk(['zodb', 'backup', ...site, '--json'])
    expect(second.exitCode).toBe(0)
    const r2 = second.json<{
      storages: {filestorage: {kind: string; start: number}; blobs: {path: string; linked: number; bytes: number}}[]
    }>()
    expect(r2.storages[0]!.filestorage).toMatchObject({kind: 'incremental', start: original.length})
    // unchanged blobs are hard links to the first backup: no file data added but the new blob
    expect(r2.storages[0]!.blobs.linked).toBe(3) // two blobs + .layout
    expect(r2.storages[0]!.blobs.bytes).toBe('new blob'.length)
    const oldBlob = '0x00/0x00/0x00/0x00/0x00/0x00/0x00/0xd8/0x040d2c7b33a53422.blob'
    expect(statSync(join(r2.storages[0]!.blobs.path, 'blobstorage', oldBlob)).ino).toBe(
      statSync(join(blob1, 'blobstorage', oldBlob)).ino,
    )

    // Data.fs.lock held by a running process (zc.lockfile takes flock): restore refuses, nothing changes
    // (a process group of our own, so that the sleeping child holding the inherited lock goes too)
    const holder = spawn('flock', [join(live, 'Data.fs.lock'), 'sleep', '60'], {stdio: 'ignore', detached: true})
    await new Promise((r) => setTimeout(r, 300))
    try {
      const refused = await runBk(['zodb', 'restore', stamp1, ...site, '--yes'])
      expect(refused.exitCode).toBe(1)
      expect(refused.stderr).toMatch(/Data\.fs is in use: .*Data\.fs\.lock is held/)
    } finally {
      process.kill(-holder.pid!, 'SIGTERM')
    }
    await new Promise((r) => holder.once('exit', r))
    const grown = readFileSync(datafs)
    expect(grown.length).toBeGreaterThan(original.length)

    // without a terminal and without --yes: refuses
    const noTty = await runBk(['zodb', 'restore', stamp1, ...site])
    expect(noTty.exitCode).toBe(1)
    expect(noTty.stderr).toMatch(/without --yes/)
    expect(md5(readFileSync(datafs))).toBe(md5(grown))

    // restore as of the first backup: the original Data.fs and the original blobs (the new one gone)
    const restored = await runBk(['zodb', 'restore', stamp1, ...site, '--no-prompt'])
    expect(restored.stderr).toBe('')
    expect(restored.exitCode).toBe(0)
    expect(md5(readFileSync(datafs))).toBe(md5(original))
    expect(tree(blobs)).toEqual(blobsBefore.filter((p) => !p.startsWith('tmp')))
    expect(statSync(join(blobs, oldBlob)).mode & 0o777).toBe(0o444)
    expect(existsSync(`${datafs}.part`)).toBe(false)

    // and the newest state again
    const latest = await runBk(['zodb', 'restore', ...site, '-y'])
    expect(latest.exitCode).toBe(0)
    expect(md5(readFileSync(datafs))).toBe(md5(grown))
    expect(existsSync(join(newBlobDir, '0x0400000000000001.blob'))).toBe(true)

    const verify = await runBk(['zodb', 'verify', ...site])
    expect(verify.exitCode).toBe(0)
    expect(verify.stdout).toMatch(/All backups verified/)
  })

  it('rejects bad dates and overlapping locations with one-line errors', async () => {
    const root = extractFixture('zodb', 'live')
    const live = join(root, 'live')
    const bad = await runBk(['zodb', 'restore', '2026-02-30', '--datafs', join(live, 'Data.fs'), '-y'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toBe(
      "bk: invalid date '2026-02-30': day out of range; use yyyy-mm-dd[-hh[-mm[-ss]]] in UTC, e.g. 2024-01-02-10-30-00\n",
    )
    const same = await runBk([
      'zodb',
      'backup',
      '--datafs',
      join(live, 'Data.fs'),
      '--location',
      join(root, 'x'),
      '--snapshot-location',
      `${join(root, 'x')}/`,
    ])
    expect(same.exitCode).toBe(1)
    expect(same.stderr).toMatch(/must be distinct locations/)
    const inside = await runBk([
      'zodb',
      'backup',
      '--datafs',
      join(live, 'Data.fs'),
      '--blob-storage',
      join(live, 'blobstorage'),
      '--blob-backup-location',
      join(live, 'blobstorage', 'backups'),
    ])
    expect(inside.exitCode).toBe(1)
    expect(inside.stderr).toMatch(/inside the blob storage/)
  })
})
