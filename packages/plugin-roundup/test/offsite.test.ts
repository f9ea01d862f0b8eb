/**
 * Off-site round trips of a Roundup backup (fixture sqlite-home) through a restic repository, an rclone crypt
 * remote and an rclone crypt remote over SFTP to an sshd on 127.0.0.1: backup --copy-to, remove the location,
 * pull, restore, compare the rows of every table and every file with the source.
 */
import {readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {
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
import Database from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {fixtureTree, treeDifferences} from './helpers.js'

let targets: OffsiteTargets
let sftp: SftpServer
let env: Record<string, string>

/** Every table's rows, sorted, as text. */
function rows(file: string): Record<string, string[]> {
  const db = new Database(file, {readonly: true})
  try {
    const out: Record<string, string[]> = {}
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all() as string[]
    for (const t of tables) {
      out[t] = (db.prepare(`SELECT * FROM "${t}"`).raw(true).all() as unknown[][]).map((r) => JSON.stringify(r)).sort()
    }
    return out
  } finally {
    db.close()
  }
}

describe.skipIf(!fixtureTestsRun())('roundup off-site', () => {
  beforeAll(async () => {
    targets = offsiteTargets()
    sftp = await startSftpServer()
    env = {...targets.env, ...sftp.env}
  })
  afterAll(() => sftp?.stop())

  for (const kind of OFFSITE_KINDS) {
    it(`round trip through ${kind}: backup --copy-to, remove the location, pull, restore, same rows and files`, async () => {
      const home = fixtureTree('sqlite-home')
      const target = offsiteTarget(kind, 'roundup', targets, sftp)
      const location = join(tempDir('bk-ru-off-'), 'backups')
      const backup = await runBk(['roundup', 'backup', home, '--location', location, '--copy-to', target, '--json'], {
        env,
      })
      expect(backup.exitCode, backup.stderr).toBe(0)
      const doc = backup.json<{archive: string; offsite: {encrypted: boolean; artifacts: string[]}[]}>()
      const name = doc.archive.split('/').pop()!
      expect(doc.offsite).toEqual([expect.objectContaining({target, encrypted: true, artifacts: [name]})])
      const bytes = readFileSync(doc.archive)
      rmSync(location, {recursive: true})

      const elsewhere = join(tempDir('bk-ru-off-'), 'backups')
      const pulled = await runBk(['roundup', 'pull', target, elsewhere, '--json'], {env})
      expect(pulled.exitCode, pulled.stderr).toBe(0)
      const p = pulled.json<{artifacts: {path: string}[]; verified: {ok: boolean}[]}>()
      expect(p.artifacts.map((a) => a.path)).toEqual([join(elsewhere, name)])
      expect(p.verified.map((v) => v.ok)).toEqual([true])
      expect(readFileSync(join(elsewhere, name)).equals(bytes)).toBe(true)

      const restored = join(tempDir('bk-ru-off-'), 'tracker')
      const r = await runBk(['roundup', 'restore', join(elsewhere, name), restored, '--yes'], {env})
      expect(r.exitCode, r.stderr).toBe(0)
      expect(rows(join(restored, 'db/db'))).toEqual(rows(join(home, 'db/db')))
      expect(treeDifferences(join(home, 'db/files'), join(restored, 'db/files'))).toEqual([])
      for (const f of ['config.ini', 'schema.py']) {
        expect(readFileSync(join(restored, f)).equals(readFileSync(join(home, f)))).toBe(true)
      }
      const v = await runBk(['roundup', 'verify', name, '--from', target, '--json'], {env})
      expect(v.exitCode, v.stderr).toBe(0)
      expect(v.json<{ok: boolean}>().ok).toBe(true)
    })
  }
})
