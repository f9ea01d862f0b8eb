/**
 * Off-site round trips of a Trac backup (fixture sqlite-env) through a restic repository, an rclone crypt remote
 * and an rclone crypt remote over SFTP to an sshd on 127.0.0.1: backup --copy-to, remove the location, pull,
 * restore, compare rows and files with the source. Plus retention on the remote, verify --from, and no secret in
 * any process's argv.
 */
import {readdirSync, readFileSync, rmSync} from 'node:fs'
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
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {fixtureEnv, sqliteDump, treeListing} from './helpers.js'

let targets: OffsiteTargets
let sftp: SftpServer
let env: Record<string, string>

interface BackupDoc {
  archive: string
  offsite: {target: string; tool: string; encrypted: boolean; artifacts: string[]; removed: string[]}[]
}

/** Every process's argv while `run` runs: none may hold a secret. Returns the commands seen. */
async function watchArgv<T>(secrets: string[], run: () => Promise<T>): Promise<{result: T; seen: string[]}> {
  const seen = new Set<string>()
  const leaks: string[] = []
  let done = false
  const poll = (async () => {
    while (!done) {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let argv: string
        try {
          argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
        } catch {
          continue
        }
        const tool = /(?:^|\/)(restic|rclone) /.exec(argv)?.[1]
        if (tool) seen.add(tool)
        for (const s of secrets) if (argv.includes(s)) leaks.push(argv)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  try {
    const result = await run()
    return {result, seen: [...seen]}
  } finally {
    done = true
    await poll
    expect(leaks).toEqual([])
  }
}

describe.skipIf(!fixtureTestsRun())('trac off-site', () => {
  beforeAll(async () => {
    targets = offsiteTargets()
    sftp = await startSftpServer()
    env = {...targets.env, ...sftp.env}
  })
  afterAll(() => sftp?.stop())

  for (const kind of OFFSITE_KINDS) {
    it(`round trip through ${kind}: backup --copy-to, remove the location, pull, restore, same rows and files`, async () => {
      const source = fixtureEnv('sqlite-env')
      const target = offsiteTarget(kind, 'trac', targets, sftp)
      const location = join(tempDir('bk-trac-off-'), 'backups')
      const backup = await runBk(['trac', 'backup', source, '--location', location, '--copy-to', target, '--json'], {
        env,
      })
      expect(backup.exitCode, backup.stderr).toBe(0)
      const doc = backup.json<BackupDoc>()
      const name = doc.archive.split('/').pop()!
      expect(doc.offsite).toEqual([
        {target, tool: kind === 'restic' ? 'restic' : 'rclone', encrypted: true, artifacts: [name], removed: []},
      ])
      const bytes = readFileSync(doc.archive)
      rmSync(location, {recursive: true})

      const elsewhere = join(tempDir('bk-trac-off-'), 'backups')
      const pulled = await runBk(['trac', 'pull', target, '--location', elsewhere, '--json'], {env})
      expect(pulled.exitCode, pulled.stderr).toBe(0)
      const p = pulled.json<{artifacts: {path: string}[]; verified: {ok: boolean}[]}>()
      expect(p.artifacts.map((a) => a.path)).toEqual([join(elsewhere, name)])
      expect(p.verified.map((v) => v.ok)).toEqual([true])
      expect(readFileSync(join(elsewhere, name)).equals(bytes)).toBe(true)

      const restored = join(tempDir('bk-trac-off-'), 'env')
      const r = await runBk(['trac', 'restore', join(elsewhere, name), restored, '--yes'], {env})
      expect(r.exitCode, r.stderr).toBe(0)
      expect(sqliteDump(join(restored, 'db/trac.db'))).toEqual(sqliteDump(join(source, 'db/trac.db')))
      const skip = (rel: string) => rel.startsWith('db') || rel.startsWith('log')
      expect(treeListing(restored, skip)).toEqual(treeListing(source, skip))
    })
  }

  it('the crypt remote stores no name or byte in clear; no secret in any argv; verify --from checks a copy', async () => {
    const source = fixtureEnv('sqlite-env')
    const location = join(tempDir('bk-trac-off-'), 'backups')
    const secrets = ['test-only-crypt-pass', 'test-only-restic-pass', 'test-only-sftp-crypt']
    const {seen} = await watchArgv(secrets, async () => {
      for (const target of [targets.restic, targets.crypt('argv'), sftp.crypt('argv')]) {
        const r = await runBk(['trac', 'backup', source, '--location', location, '--copy-to', target], {env})
        expect(r.exitCode, r.stderr).toBe(0)
      }
    })
    expect(seen.sort()).toEqual(['rclone', 'restic'])
    const stored = readdirSync(join(targets.dir, 'crypt'), {recursive: true}).map(String)
    expect(stored.length).toBeGreaterThan(0)
    expect(stored.filter((n) => /sqlite-env|\.tar\.gz|bk-offsite/.test(n))).toEqual([])

    for (const target of [targets.restic, targets.crypt('argv')]) {
      const v = await runBk(['trac', 'verify', 'latest', '--from', target, '--json'], {env})
      expect(v.exitCode, v.stderr).toBe(0)
      expect(v.json<{ok: boolean; artifact: string}>()).toMatchObject({ok: true})
    }
    const missing = await runBk(['trac', 'verify', 'nothing.tar.gz', '--from', targets.restic], {env})
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain('holds no trac backup named nothing.tar.gz')
  })

  it('retention flags apply on the remote too', async () => {
    const source = fixtureEnv('sqlite-env')
    const location = join(tempDir('bk-trac-off-'), 'backups')
    const target = targets.plain('trac-keep')
    const names: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await runBk(
        ['trac', 'backup', source, '--location', location, '--copy-to', target, '--keep', '2', '--json'],
        {env},
      )
      expect(r.exitCode, r.stderr).toBe(0)
      const doc = r.json<BackupDoc>()
      names.push(doc.archive.split('/').pop()!)
      expect(doc.offsite[0]!.removed).toEqual(i < 2 ? [] : [names[0]])
      // Archive names have whole seconds: the next one must differ.
      await new Promise((resolve) => setTimeout(resolve, 1100))
    }
    const remote = join(targets.dir, 'trac-keep')
    expect(
      readdirSync(remote)
        .filter((n) => n.endsWith('.tar.gz'))
        .sort(),
    ).toEqual(names.slice(1).sort())
    expect(readdirSync(join(remote, '.bk-offsite/trac')).sort()).toEqual(names.slice(1).map((n) => `${n}.json`))
    const list = await runBk(['trac', 'pull', target, '--list', '--json'], {env})
    expect(list.json<{artifacts: {name: string}[]}>().artifacts.map((a) => a.name)).toEqual(names.slice(1).reverse())
  })
})
