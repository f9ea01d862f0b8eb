// roundup backup --description: the note is stored in the archive's manifest (read back by bk roundup list,
// which reads it from the archive). pull --all: every off-site copy not here yet comes back, byte for byte.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {dropPgDb, fixtureTree, keptCopies, listFiles, psql, uniqueName} from './helpers.js'

describe('bk roundup backup flags', () => {
  it('--description is stored in the manifest and shown by list', async () => {
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir('bk-roundup-desc-'), 'backups')
    const note = 'before the 2.6 upgrade, ticket #42'
    const r = await runBk(['roundup', 'backup', home, '--location', location, '--description', note])
    expect(r.exitCode, r.stderr).toBe(0)
    const [archive] = readdirSync(location).filter((n) => n.endsWith('.tar.gz'))
    const manifest = JSON.parse(
      execFileSync('tar', ['-xzOf', join(location, archive!), 'bk-manifest.json'], {encoding: 'utf8'}),
    ) as {description?: string}
    expect(manifest.description).toBe(note)
    const list = await runBk(['roundup', 'list', '--location', location, '--json'])
    expect(list.exitCode, list.stderr).toBe(0)
    expect(JSON.stringify(list.json())).toContain(note)
  })
  it('--allow-unencrypted: a plain target is refused without it (config.ini holds a password); pull --all brings back every copy', async () => {
    const targets = offsiteTargets()
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir('bk-roundup-pull-'), 'backups')
    const remote = targets.plain('roundup')
    const backup = ['roundup', 'backup', home, '--location', location, '--copy-to', remote]
    const refused = await runBk(backup, {env: targets.env})
    expect(refused.exitCode).not.toBe(0)
    expect(refused.stderr).toMatch(/does not encrypt and the backup holds the database password .*--allow-unencrypted/)
    expect(existsSync(location) ? readdirSync(location) : []).toEqual([])
    expect(existsSync(join(targets.dir, 'roundup'))).toBe(false)
    for (let i = 0; i < 2; i++) {
      const r = await runBk([...backup, '--allow-unencrypted'], {env: targets.env})
      expect(r.exitCode, r.stderr).toBe(0)
    }
    const sha = (n: string) =>
      createHash('sha256')
        .update(readFileSync(join(location, n)))
        .digest('hex')
    const hashes = () =>
      Object.fromEntries(
        readdirSync(location)
          .filter((n) => n.endsWith('.tar.gz'))
          .sort()
          .map((n) => [n, sha(n)]),
      )
    const made = hashes()
    expect(Object.keys(made)).toHaveLength(2)
    rmSync(location, {recursive: true})
    const one = await runBk(['roundup', 'pull', remote, location], {env: targets.env})
    expect(one.exitCode, one.stderr).toBe(0)
    expect(Object.keys(hashes())).toHaveLength(1)
    const all = await runBk(['roundup', 'pull', remote, location, '--all'], {env: targets.env})
    expect(all.exitCode, all.stderr).toBe(0)
    expect(hashes()).toEqual(made)
  })
})

describe('bk roundup migrate-backend --new-home', () => {
  it('with --no-swap the new tracker lands at --new-home; the old home is untouched, byte for byte', async () => {
    const home = fixtureTree('sqlite-home')
    const tree = (dir: string) =>
      Object.fromEntries(
        // SQLite's -wal/-shm sidecars of a reader are not the tracker's contents (db/db itself is compared)
        listFiles(dir)
          .filter((f) => !/-(wal|shm)$/.test(f))
          .map((f) => [
            f,
            createHash('sha256')
              .update(readFileSync(join(dir, f)))
              .digest('hex'),
          ]),
      )
    const before = tree(home)
    const name = uniqueName()
    const newHome = join(tempDir('bk-roundup-newhome-'), 'elsewhere', 'tracker')
    try {
      const r = await runBk([
        'roundup',
        'migrate-backend',
        home,
        '--to',
        'postgresql',
        '--url',
        `postgresql://root@127.0.0.1:5432/${name}`,
        '--no-swap',
        '--new-home',
        newHome,
        '--yes',
      ])
      expect(r.exitCode, r.stderr).toBe(0)
      expect(readFileSync(join(newHome, 'config.ini'), 'utf8')).toMatch(/\nbackend = postgresql\n/)
      expect(readFileSync(join(newHome, 'config.ini'), 'utf8')).toContain(`name = ${name}`)
      // the issues are in the new database, the old home is as it was, and nothing went to the default place
      expect(Number(psql('select count(*) from _issue', name))).toBeGreaterThan(0)
      expect(tree(home)).toEqual(before)
      expect(keptCopies(home)).toEqual([])
      expect(existsSync(`${home}-postgresql`)).toBe(false)
    } finally {
      dropPgDb(name)
    }
  })
})
