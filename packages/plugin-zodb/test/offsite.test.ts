/**
 * Off-site round trips of a ZODB site (fixture live: Data.fs + blob storage) through a restic repository, an
 * rclone crypt remote and an rclone crypt remote over SFTP to an sshd on 127.0.0.1: a full and an incremental
 * backup with --copy-to (the chain copied whole each time), remove both locations, pull, restore into a new
 * place, compare Data.fs byte for byte and every blob with the source.
 */
import {createHash} from 'node:crypto'
import {chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {
  extractFixture,
  fixtureTestsRun,
  OFFSITE_KINDS,
  type OffsiteTargets,
  offsiteTarget,
  offsiteTargets,
  runBk,
  type SftpServer,
  startSftpServer,
  tempDir,
} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {SyntheticStorage} from '../src/synthetic-storage.js'

let targets: OffsiteTargets
let sftp: SftpServer
let env: Record<string, string>

/** Relative path -> sha256 of every file under `dir` (tmp/ left out: a backup leaves it out too). */
function files(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name
    if (r === 'tmp') continue
    if (statSync(join(dir, r)).isDirectory()) Object.assign(out, files(dir, r))
    else
      out[r] = createHash('sha256')
        .update(readFileSync(join(dir, r)))
        .digest('hex')
  }
  return out
}

describe.skipIf(!fixtureTestsRun())('zodb off-site', () => {
  beforeAll(async () => {
    targets = offsiteTargets()
    sftp = await startSftpServer()
    env = {...targets.env, ...sftp.env}
  })
  afterAll(() => sftp?.stop())

  for (const kind of OFFSITE_KINDS) {
    it(`round trip through ${kind}: full + incremental --copy-to, remove the locations, pull --all, restore, same bytes`, async () => {
      const root = extractFixture('zodb', 'live')
      const live = join(root, 'live')
      const datafs = join(live, 'Data.fs')
      const blobs = join(live, 'blobstorage')
      const prefix = join(root, 'var')
      const site = ['--datafs', datafs, '--blob-storage', blobs, '--location-prefix', prefix]
      const target = offsiteTarget(kind, 'zodb', targets, sftp)

      const first = await runBk(['zodb', 'backup', ...site, '--copy-to', target, '--json'], {env})
      expect(first.exitCode, first.stderr).toBe(0)
      const chain = first.json<{offsite: {encrypted: boolean; artifacts: string[]}[]}>().offsite[0]!
      expect(chain).toMatchObject({encrypted: true, artifacts: [expect.stringMatching(/\.fsz$/)]})

      // An incremental: the same chain goes again, whole, and replaces the first copy of it.
      SyntheticStorage.open(datafs).commit({oids: [0, 999], size: 500})
      const blobDir = join(blobs, '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x03', '0xe7')
      mkdirSync(blobDir, {recursive: true})
      writeFileSync(join(blobDir, '0x0400000000000001.blob'), 'new blob')
      chmodSync(join(blobDir, '0x0400000000000001.blob'), 0o444)
      await new Promise((r) => setTimeout(r, 1100))
      const second = await runBk(['zodb', 'backup', ...site, '--copy-to', target, '--json'], {env})
      expect(second.exitCode, second.stderr).toBe(0)
      expect(second.json<{offsite: {artifacts: string[]}[]}>().offsite[0]!.artifacts).toEqual(chain.artifacts)
      const list = await runBk(['zodb', 'pull', target, ...site, '--list', '--json'], {env})
      expect(list.json<{artifacts: {name: string}[]}>().artifacts.map((a) => a.name)).toEqual(chain.artifacts)

      const sourceData = readFileSync(datafs)
      const sourceBlobs = files(blobs)
      rmSync(join(prefix, 'backups'), {recursive: true})
      rmSync(join(prefix, 'blobstoragebackups'), {recursive: true})

      const pulled = await runBk(['zodb', 'pull', target, ...site, '--all', '--json'], {env})
      expect(pulled.exitCode, pulled.stderr).toBe(0)
      expect(pulled.json<{artifacts: {name: string}[]}>().artifacts.map((a) => a.name)).toEqual(chain.artifacts)
      const verify = await runBk(['zodb', 'verify', ...site, '--json'], {env})
      expect(verify.exitCode, verify.stderr).toBe(0)

      const elsewhere = tempDir('bk-zodb-off-')
      const restored = await runBk(
        [
          'zodb',
          'restore',
          '--datafs',
          join(elsewhere, 'Data.fs'),
          '--blob-storage',
          join(elsewhere, 'blobstorage'),
          '--location-prefix',
          prefix,
          '--yes',
        ],
        {env},
      )
      expect(restored.exitCode, restored.stderr).toBe(0)
      expect(readFileSync(join(elsewhere, 'Data.fs')).equals(sourceData)).toBe(true)
      expect(files(join(elsewhere, 'blobstorage'))).toEqual(sourceBlobs)
    })
  }
})
