// Members Node makes (prepend, a prefix's directory) go into the compressor first; then GNU tar gets the compressor's
// stdin as its stdout and writes the tree straight into it (no byte of the tree crosses Node), while the manifest
// comes from the decompressed read-back. The archive must read back byte for byte, and a tar or compressor dying
// mid-stream must leave no archive, no temp file, no child and no descriptor behind.
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {extractArchive} from '../src/archive/index.js'
import {createBkArchive, readManifest, verifyManifest} from '../src/manifest/index.js'
import {
  compressing,
  creating,
  holdersUnder as holders,
  onPath,
  roundupShaped,
  snapshot,
  temp,
  useTempDirs,
} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

useTempDirs()

/** A tree of a few MiB (incompressible: tar's stream spans many pipe buffers) and a staged file to prepend. */
function setUp(root: string) {
  const src = join(root, 'src')
  makeTree(src)
  mkdirSync(join(src, 'bulk'))
  for (let i = 0; i < 4; i++) writeFileSync(join(src, 'bulk', `r${i}.bin`), randomBytes(1024 * 1024 + i))
  const stage = join(root, 'stage')
  mkdirSync(stage)
  const db = randomBytes(3 * 1024 * 1024 + 7)
  writeFileSync(join(stage, 'db'), db)
  return {src, db, options: roundupShaped(src, join(stage, 'db'))}
}

/** This process's open descriptors. */
const ownFds = () => readdirSync('/proc/self/fd').length

describe('prepended members, then GNU tar writing straight into the compressor', () => {
  for (const suffix of ['tar.gz', 'tar.zst'] as const)
    it(`tar's stdout is the compressor's stdin; the archive reads back byte for byte, manifest exact (.${suffix})`, async () => {
      const root = temp()
      const {src, db, options} = setUp(root)
      const zipper = suffix === 'tar.gz' ? 'pigz' : 'zstd'
      onPath(root, {
        // the first run compresses the tar stream (a later one, the manifest's member)
        [zipper]: compressing(
          `[ -e ${root}/zip-stdin ] || readlink /proc/$$/fd/0 > ${root}/zip-stdin\nexec "$REAL" "$@"`,
        ),
        // `ss` names each socket's peer: with it, the hand-off is seen, not guessed
        tar: creating(
          `echo "$(readlink /proc/$$/fd/1)" > ${root}/tar-stdout\n(ss -xan || true) > ${root}/sockets 2>/dev/null\nexec "$REAL" "$@"`,
        ),
      })
      const file = join(root, `bk.${suffix}`)
      const r = await createBkArchive({...options, file})
      // Node's stdio pipes are socket pairs: tar's stdout must be the end whose peer the compressor reads
      const zipIn = /^socket:\[(\d+)\]$/.exec(readFileSync(join(root, 'zip-stdin'), 'utf8').trim())?.[1]
      const tarOut = /^socket:\[(\d+)\]$/.exec(readFileSync(join(root, 'tar-stdout'), 'utf8').trim())?.[1]
      expect(zipIn).toBeDefined()
      expect(tarOut).toBeDefined()
      const sockets = readFileSync(join(root, 'sockets'), 'utf8')
      if (sockets.includes('Peer'))
        expect(sockets.split('\n').some((line) => new RegExp(`\\s${tarOut}\\s+\\S+\\s${zipIn}\\b`).test(line))).toBe(
          true,
        )
      expect(await readManifest(file)).toEqual(r.manifest)
      expect(await verifyManifest(file)).toMatchObject({ok: true, missing: [], changed: [], extra: []})
      expect(r.manifest.files.find((f) => f.path === 'database/db')?.size).toBe(db.length)
      expect(r.manifest.files.map((f) => f.path)).toContain('home/bulk/r3.bin')
      const out = join(root, 'out')
      await extractArchive({file, target: out})
      expect(readFileSync(join(out, 'database/db')).equals(db)).toBe(true)
      expect(snapshot(join(out, 'home'))).toEqual(snapshot(src))
    })

  it('tar dying mid-stream (the compressor then ends well): fails, and leaves nothing', async () => {
    const root = temp()
    const {options} = setUp(root)
    const file = join(root, 'bk.tar.gz')
    await createBkArchive({...options, file: join(root, 'warm.tar.gz')}) // descriptors Node keeps open for good
    const fds = ownFds()
    onPath(root, {tar: creating(`"$REAL" "$@" | head -c 300000\nkill -9 $$`)})
    await expect(createBkArchive({...options, file})).rejects.toThrow(/tar exited with SIGKILL/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage', 'warm.tar.gz'])
    expect(holders(root)).toEqual([])
    expect(ownFds()).toBe(fds)
  })

  for (const [zipper, suffix] of [
    ['pigz', 'tar.gz'],
    ['zstd', 'tar.zst'],
  ] as const)
    it(`${zipper} killed mid-stream, while tar writes into it: fails with the signal, and leaves nothing`, async () => {
      const root = temp()
      const {options} = setUp(root)
      const file = join(root, `bk.${suffix}`)
      await createBkArchive({...options, file: join(root, `warm.${suffix}`)})
      const fds = ownFds()
      onPath(root, {[zipper]: compressing(`"$REAL" "$@" | head -c 200000\nkill -9 $$`)})
      await expect(createBkArchive({...options, file})).rejects.toThrow(new RegExp(`${zipper} was killed by SIGKILL`))
      expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage', `warm.${suffix}`])
      expect(holders(root)).toEqual([])
      expect(ownFds()).toBe(fds)
    })

  it('a prepended member that cannot be read: fails before tar starts, and leaves nothing', async () => {
    const root = temp()
    const {src, options} = setUp(root)
    const file = join(root, 'bk.tar.gz')
    await createBkArchive({...options, file: join(root, 'warm.tar.gz')})
    const fds = ownFds()
    onPath(root, {tar: creating(`touch ${root}/tar-ran\nexec "$REAL" "$@"`)})
    const prepend = [...options.prepend, {name: 'database/other', source: src}] // a directory: refused
    await expect(createBkArchive({...options, prepend, file})).rejects.toThrow(/not a regular file/)
    expect(readdirSync(root).sort()).toEqual(['bin', 'src', 'stage', 'warm.tar.gz'])
    expect(holders(root)).toEqual([])
    expect(ownFds()).toBe(fds)
  })
})
