/**
 * Off-site round trips of an Aegir site backup (fixture platform, live MariaDB database) through a restic
 * repository, an rclone crypt remote and an rclone crypt remote over SFTP to an sshd on 127.0.0.1: backup
 * --copy-to, remove the backups, pull, restore into a new database, compare table checksums and the site's files.
 * And an unencrypted target is refused for a backup holding settings.php's credentials.
 */
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
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
} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {makeTestSite, mysqlRoot, type TestSite, uniqueDbName} from './helpers.js'

let targets: OffsiteTargets
let sftp: SftpServer
let env: Record<string, string>
const sites: TestSite[] = []
const cleanup: string[] = []

/** CHECKSUM TABLE of every table: the rows' content, compared across databases. */
function checksums(database: string): Record<string, string> {
  const out: Record<string, string> = {}
  const tables = mysqlRoot('SHOW TABLES', database).trim().split('\n').filter(Boolean)
  for (const t of tables) {
    const line = mysqlRoot(`CHECKSUM TABLE \`${t}\``, database).trim().split('\n').at(-1)!
    out[t] = line.split('\t')[1]!
  }
  return out
}

/** Relative path -> sha256 of every file under `dir`. */
function files(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name
    if (statSync(join(dir, r)).isDirectory()) Object.assign(out, files(dir, r))
    else
      out[r] = createHash('sha256')
        .update(readFileSync(join(dir, r)))
        .digest('hex')
  }
  return out
}

describe.skipIf(!fixtureTestsRun())('aegir off-site', () => {
  beforeAll(async () => {
    targets = offsiteTargets()
    sftp = await startSftpServer()
    env = {...targets.env, ...sftp.env, BK_DB_ADMIN_PASSWORD: ''}
  })
  afterAll(() => {
    sftp?.stop()
    for (const sql of cleanup) mysqlRoot(sql)
    for (const t of sites) t.drop()
  })

  for (const kind of OFFSITE_KINDS) {
    it(`round trip through ${kind}: backup --copy-to, remove the backups, pull, restore, same rows and files`, async () => {
      const t = makeTestSite()
      sites.push(t)
      const target = offsiteTarget(kind, 'aegir', targets, sftp)
      const sourceRows = checksums(t.database)
      const sourceFiles = files(t.site)
      const backup = await runBk(['aegir', 'backup', t.site, '--location', t.location, '--copy-to', target, '--json'], {
        env,
      })
      expect(backup.exitCode, backup.stderr).toBe(0)
      const doc = backup.json<{file: string; offsite: {encrypted: boolean; artifacts: string[]}[]}>()
      const name = doc.file.split('/').pop()!
      expect(doc.offsite).toEqual([expect.objectContaining({target, encrypted: true, artifacts: [name]})])
      const bytes = readFileSync(doc.file)
      rmSync(t.location, {recursive: true})

      const pulled = await runBk(['aegir', 'pull', target, '--location', t.location, '--json'], {env})
      expect(pulled.exitCode, pulled.stderr).toBe(0)
      const p = pulled.json<{artifacts: {path: string}[]; verified: {ok: boolean}[]}>()
      expect(p.artifacts.map((a) => a.path)).toEqual([join(t.location, name)])
      expect(p.verified.map((v) => v.ok)).toEqual([true])
      expect(readFileSync(join(t.location, name)).equals(bytes)).toBe(true)
      // The sidecar came back with it.
      expect(existsSync(join(t.location, `${name}.bk.json`))).toBe(true)

      const dbName = uniqueDbName()
      const r = await runBk(
        ['aegir', 'restore', t.site, name, '--location', t.location, '--db-name', dbName, '--yes', '--json'],
        {env},
      )
      expect(r.exitCode, r.stderr).toBe(0)
      const restored = r.json<{database: {new: string; user: string}}>()
      cleanup.push(
        `DROP DATABASE IF EXISTS \`${restored.database.new}\`; DROP USER IF EXISTS '${restored.database.user}'@'%';`,
      )
      expect(checksums(restored.database.new)).toEqual(sourceRows)
      const after = files(t.site)
      // settings.php and drushrc.php are rewritten for the new database; every other file is the source's.
      const skip = (rel: string) => rel === 'settings.php' || rel === 'drushrc.php'
      expect(Object.fromEntries(Object.entries(after).filter(([k]) => !skip(k)))).toEqual(
        Object.fromEntries(Object.entries(sourceFiles).filter(([k]) => !skip(k))),
      )
    })
  }

  it('backup --all copies every site it backed up', async () => {
    const t = makeTestSite()
    sites.push(t)
    const target = targets.crypt('aegir-all')
    const r = await runBk(
      ['aegir', 'backup', '--all', t.root, '--location', t.location, '--copy-to', target, '--json'],
      {
        env,
      },
    )
    expect(r.exitCode, r.stderr).toBe(0)
    const doc = r.json<{artifacts: {path: string}[]; offsite: {artifacts: string[]}[]}>()
    expect(doc.offsite[0]!.artifacts).toEqual(doc.artifacts.map((a) => a.path.split('/').pop()))
    expect(doc.offsite[0]!.artifacts).toEqual([expect.stringMatching(/^example\.com-\d{8}\.\d{6}\.tar\.gz$/)])
  })

  it('refuses a plain rclone target (settings.php holds credentials) before writing anything; --allow-unencrypted copies', async () => {
    const t = makeTestSite()
    sites.push(t)
    const target = targets.plain('aegir-plain')
    const refused = await runBk(['aegir', 'backup', t.site, '--location', t.location, '--copy-to', target], {env})
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toMatch(
      /aegir-plain does not encrypt and the backup holds the database credentials .*--allow-unencrypted/,
    )
    expect(existsSync(t.location) ? readdirSync(t.location) : []).toEqual([])
    expect(existsSync(join(targets.dir, 'aegir-plain'))).toBe(false)
    const allowed = await runBk(
      ['aegir', 'backup', t.site, '--location', t.location, '--copy-to', target, '--allow-unencrypted', '--json'],
      {env},
    )
    expect(allowed.exitCode, allowed.stderr).toBe(0)
    expect(allowed.json<{offsite: {encrypted: boolean}[]}>().offsite[0]!.encrypted).toBe(false)
  })
})
