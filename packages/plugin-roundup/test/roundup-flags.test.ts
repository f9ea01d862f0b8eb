// roundup backup --description: the note is stored in the archive's manifest (read back by bk roundup list,
// which reads it from the archive). pull --all: every off-site copy not here yet comes back, byte for byte.
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {archiveDigests, FollowerProcess, offsiteTargets, repoRoot, runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
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
    const made = archiveDigests(location)
    expect(Object.keys(made)).toHaveLength(2)
    rmSync(location, {recursive: true})
    const one = await runBk(['roundup', 'pull', remote, location], {env: targets.env})
    expect(one.exitCode, one.stderr).toBe(0)
    expect(Object.keys(archiveDigests(location))).toHaveLength(1)
    const all = await runBk(['roundup', 'pull', remote, location, '--all'], {env: targets.env})
    expect(all.exitCode, all.stderr).toBe(0)
    expect(archiveDigests(location)).toEqual(made)
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

describe('bk roundup follow --print-unit', () => {
  it('prints a systemd service unit whose ExecStart is this same follow (it runs, and prints the same unit)', async () => {
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir('bk-roundup-unit-'), 'follow')
    const r = await runBk([
      'roundup',
      'follow',
      home,
      '--location',
      location,
      '--snapshot-interval',
      '60',
      '--print-unit',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    // every line a [Section] or Key=value, in the three sections a service needs
    const sections: Record<string, Record<string, string>> = {}
    let section = ''
    for (const line of r.stdout.split('\n').filter((l) => l !== '')) {
      const head = /^\[(\w+)\]$/.exec(line)
      if (head) {
        section = head[1]!
        sections[section] = {}
      } else {
        const kv = /^([A-Za-z]+)=(.+)$/.exec(line)
        expect(kv, line).not.toBeNull()
        sections[section]![kv![1]!] = kv![2]!
      }
    }
    expect(Object.keys(sections)).toEqual(['Unit', 'Service', 'Install'])
    expect(sections.Service).toMatchObject({Type: 'simple', KillSignal: 'SIGTERM', Restart: 'always'})
    const exec = sections.Service!.ExecStart!.split(' ')
    expect(exec.slice(2)).toEqual([
      'roundup',
      'follow',
      home,
      '--location',
      location,
      '--snapshot-interval',
      '60',
      '--quiet',
    ])
    // the command it names is a working bk (with the test's plugins, as runBk has them): asked for its unit, it
    // prints the same one; nothing was created
    const again = spawnSync(exec[0]!, [...exec.slice(1), '--print-unit'], {
      encoding: 'utf8',
      env: {...process.env, BK_DATA_DIR: join(repoRoot(), '.bk-dev')},
    })
    expect(again.status, again.stderr).toBe(0)
    expect(again.stdout).toBe(r.stdout)
    expect(existsSync(location)).toBe(false)
  })
})

describe('bk roundup follow --snapshot-interval, restore --as-of', () => {
  it('a short interval ships a second snapshot; --as-of the first brings back the tracker as it was then', async () => {
    const home = fixtureTree('sqlite-home')
    const db = join(home, 'db', 'db')
    const issues = (file: string) => {
      const c = new Database(file, {readonly: true})
      try {
        return (c.prepare('SELECT count(*) AS n FROM _issue').get() as {n: number}).n
      } finally {
        c.close()
      }
    }
    const at0 = issues(db)
    const location = join(tempDir('bk-roundup-asof-'), 'follow')
    const f = new FollowerProcess([
      'roundup',
      'follow',
      home,
      '--location',
      location,
      '--json',
      '--interval',
      '0.02',
      '--snapshot-interval',
      '0.2',
    ])
    await f.until(() => f.shipments.some((s) => s.kind === 'snapshot'), 'the first snapshot')
    const conn = new Database(db)
    let n = 0
    // commits keep coming until the interval has made the follower ship a second snapshot (default: one a day)
    await f.until(
      () => {
        conn.prepare(`INSERT INTO _issue (id, _title) VALUES (${900_000 + ++n}, 'as-of ${n}')`).run()
        return f.shipments.filter((s) => s.kind === 'snapshot').length >= 2
      },
      'a second snapshot',
      20_000,
    )
    conn.close()
    // SIGTERM: the follower ships every complete commit before it exits
    expect((await f.stop()).code, f.stderr).toBe(0)
    const first = f.shipments.find((s) => s.kind === 'snapshot')!.time
    const early = join(tempDir(), 'home')
    const r = await runBk(['roundup', 'restore', location, early, '--as-of', first, '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.json<{asOf: string}>()).toMatchObject({asOf: first})
    expect(issues(join(early, 'db', 'db'))).toBe(at0)
    const newest = join(tempDir(), 'home')
    const all = await runBk(['roundup', 'restore', location, newest])
    expect(all.exitCode, all.stderr).toBe(0)
    expect(issues(join(newest, 'db', 'db'))).toBe(at0 + n)
  }, 60_000)
})
