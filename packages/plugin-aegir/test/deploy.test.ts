/**
 * bk aegir deploy (issue 14): the fixture backup put onto a platform where the site does not exist (the server was
 * lost), with a new MariaDB database and user, settings rewritten, files owned as the platform's other site.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join, relative} from 'node:path'
import {extractFixture, fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {adminTarget} from '../src/admin.js'
import {BackupDeploy} from '../src/deploy-backup.js'
import {readSiteDatabase} from '../src/drupal/credentials.js'
import {
  dbExists,
  FIXTURE_BACKUP,
  FIXTURE_PASSWORD,
  fixtureCounts,
  freshPlatform,
  isRoot,
  mysqlRoot,
  SIBLING,
  tableCounts,
  treeState,
  uniqueDbName,
  userExists,
} from './helpers.js'

const created: string[] = []
afterEach(() => {
  for (const name of created.splice(0)) {
    mysqlRoot(`DROP DATABASE IF EXISTS \`${name}\`; DROP USER IF EXISTS '${name}'@'%';`)
  }
})

const env = {BK_DB_ADMIN_PASSWORD: ''}

function owners(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const visit = (abs: string) => {
    const st = statSync(abs)
    out[relative(dir, abs) || '.'] = `${st.uid}:${st.gid}`
    if (st.isDirectory()) for (const name of readdirSync(abs)) visit(join(abs, name))
  }
  visit(dir)
  return out
}

describe('bk aegir deploy', () => {
  it('puts the fixture backup on a platform without the site: new database and user, settings, owners', async () => {
    const p = freshPlatform()
    const db = uniqueDbName()
    created.push(db)
    const r = await runBk(
      [
        'aegir',
        'deploy',
        fixturePath('aegir', 'backups', FIXTURE_BACKUP),
        p.platform,
        '--location',
        p.location,
        '--db-name',
        db,
        '--yes',
        '--json',
      ],
      {env},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    const out = r.json<{target: string; database: string; user: string; finishedByRecovery: boolean}>()
    const site = join(p.platform, 'sites/example.com')
    expect(out).toMatchObject({target: site, database: db, user: db, finishedByRecovery: false})

    // the database: every row of the backup, reachable by the new user with the password settings.php now holds
    expect(tableCounts(db)).toEqual(fixtureCounts())
    const creds = await readSiteDatabase(site)
    expect(creds).toMatchObject({database: db, username: db, host: '127.0.0.1', port: 3306})
    expect(creds.password).not.toBe(FIXTURE_PASSWORD)
    expect(creds.password.length).toBeGreaterThanOrEqual(20)
    const asSite = spawnSync('mysql', ['-u', db, '-h127.0.0.1', '-P3306', '--batch', '--skip-column-names', db], {
      input: 'SELECT COUNT(*) FROM node',
      encoding: 'utf8',
      env: {...process.env, MYSQL_PWD: creds.password},
    })
    expect(asSite.stdout.trim()).toBe(String(fixtureCounts().node))
    // the password is in no output
    expect(r.stdout + r.stderr).not.toContain(creds.password)

    // the files: the backup's, byte for byte and with provision's modes; settings follow the new platform
    const expected = treeState(join(extractFixture('aegir', 'platforms'), 'platforms/drupal-7/sites/example.com'), [
      'settings.php',
      'drushrc.php',
    ])
    expect(treeState(site, ['settings.php', 'drushrc.php'])).toEqual(expected)
    expect(statSync(join(site, 'settings.php')).mode & 0o7777).toBe(0o440)
    const settings = readFileSync(join(site, 'settings.php'), 'utf8')
    expect(settings).toContain(`${p.platform}/sites/all/platform.settings.php`)
    expect(settings).not.toContain('/var/aegir/platforms/drupal-7/')
    expect(readFileSync(join(site, 'drushrc.php'), 'utf8')).toContain(db)

    // owned as the platform's other site; the web server's trees in its web group
    if (isRoot) {
      for (const [path, owner] of Object.entries(owners(site))) {
        const web = path === 'settings.php' || /^(files|private)(\/|$)/.test(path)
        expect(`${path} ${owner}`).toBe(`${path} ${SIBLING.uid}:${web ? SIBLING.webGroup : SIBLING.gid}`)
      }
    }
    // nothing else on the platform: no stage, journal or lock beside the site
    expect(readdirSync(join(p.platform, 'sites')).sort()).toEqual(['all', 'example.com', 'sibling.example.org'])
  })

  it('under a new uri: paths in the dump and the settings follow; no client gets the password in argv', async () => {
    const p = freshPlatform()
    const db = uniqueDbName()
    created.push(db)
    const argvs: string[] = []
    const admin = await adminTarget({url: 'mysql://root@127.0.0.1:3306/', env: {}})
    const deploy = await BackupDeploy.open(fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.platform, {
      location: p.location,
      admin,
      uri: 'new.example.org',
      dbName: db,
      onSpawn: (pid) => {
        try {
          argvs.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
        } catch {}
      },
    })
    const result = await deploy.run()
    const site = join(p.platform, 'sites/new.example.org')
    expect(result.site).toBe(site)
    expect(result.rewrittenValues).toBeGreaterThan(0)
    const creds = await readSiteDatabase(site)
    expect(argvs.length).toBeGreaterThan(0)
    for (const argv of argvs) expect(argv).not.toContain(creds.password)
    expect(mysqlRoot("SELECT value FROM variable WHERE name = 'file_public_path'", db).trim()).toBe(
      's:27:"sites/new.example.org/files";',
    )
    const settings = readFileSync(join(site, 'settings.php'), 'utf8')
    expect(settings).toContain("'sites/new.example.org/files'")
    expect(settings).not.toContain('sites/example.com')
    expect(readFileSync(join(site, 'drushrc.php'), 'utf8')).toContain('new.example.org')
  })

  it('--owner and --web-group choose the owner; a name in the location is found', async () => {
    const p = freshPlatform()
    mkdirSync(p.location, {recursive: true})
    execFileSync('cp', [fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.location])
    const db = uniqueDbName()
    created.push(db)
    const r = await runBk(
      [
        'aegir',
        'deploy',
        FIXTURE_BACKUP,
        p.platform,
        '--location',
        p.location,
        '--db-name',
        db,
        '--owner',
        '2001:2002',
        '--web-group',
        '44',
        '--yes',
      ],
      {env},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    const site = join(p.platform, 'sites/example.com')
    if (isRoot) {
      expect(owners(site).modules).toBe('2001:2002')
      expect(owners(site)['files/css']).toBe('2001:44')
    }
    expect(tableCounts(db)).toEqual(fixtureCounts())
  })

  it('refuses a site that exists on the platform, pointing to restore; nothing is created', async () => {
    const root = extractFixture('aegir', 'platforms')
    const platform = join(root, 'platforms/drupal-7')
    const before = treeState(platform)
    const db = uniqueDbName()
    created.push(db)
    const r = await runBk(
      [
        'aegir',
        'deploy',
        fixturePath('aegir', 'backups', FIXTURE_BACKUP),
        platform,
        '--location',
        join(root, 'b'),
        '--db-name',
        db,
        '--yes',
      ],
      {env},
    )
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      `bk: example.com already exists on ${platform} (${platform}/sites/example.com); to put a backup over it use bk aegir restore`,
    ])
    expect(treeState(platform)).toEqual(before)
    expect(dbExists(db)).toBe(false)
  })

  it('--dry-run with the database server down says so in one line and changes nothing', async () => {
    const p = freshPlatform()
    const before = treeState(p.platform)
    const backup = fixturePath('aegir', 'backups', FIXTURE_BACKUP)
    const args = ['aegir', 'deploy', backup, p.platform, '--db-admin-url', 'mysql://root@127.0.0.1:1/', '--dry-run']
    const r = await runBk(args, {env})
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      'bk: cannot connect to MySQL/MariaDB at 127.0.0.1:1 (connection refused); is the server running?',
    ])
    expect(treeState(p.platform)).toEqual(before)
  })

  it('two deploys of one site at once, one through a symlink to the platform: the second is refused', async () => {
    const p = freshPlatform()
    const link = join(tempDir(), 'platform-link')
    symlinkSync(p.platform, link)
    const [a, b] = [uniqueDbName(), uniqueDbName()]
    created.push(a, b)
    const backup = fixturePath('aegir', 'backups', FIXTURE_BACKUP)
    const runs = await Promise.all(
      [
        [p.platform, a],
        [link, b],
      ].map(([platform, db]) =>
        runBk(['aegir', 'deploy', backup, platform as string, '--db-name', db as string, '--yes'], {env}),
      ),
    )
    expect(runs.map((r) => r.exitCode).sort()).toEqual([0, 1])
    const refused = runs.find((r) => r.exitCode === 1)!
    // whichever check sees the other run first: its target lock (same real path through the symlink), its
    // journal, or its finished site
    expect(refused.stderr).toMatch(
      /^bk: ('bk aegir deploy' \(pid \d+\) is still working on|example\.com already exists|\S+\/sites\/example\.com is locked by pid \d+ \(bk aegir deploy,)/m,
    )
    // one site, one database
    expect([dbExists(a), dbExists(b)].filter(Boolean)).toHaveLength(1)
    expect([userExists(a), userExists(b)].filter(Boolean)).toHaveLength(1)
    expect(readdirSync(join(p.platform, 'sites')).sort()).toEqual(['all', 'example.com', 'sibling.example.org'])
  })

  it('refuses a backup of another engine than the admin account, and a folder that is no platform', async () => {
    const p = freshPlatform()
    const r = await runBk(
      [
        'aegir',
        'deploy',
        fixturePath('aegir', 'backups', FIXTURE_BACKUP),
        p.platform,
        '--db-admin-url',
        'postgres://root@127.0.0.1:5432/',
        '--location',
        p.location,
        '--yes',
      ],
      {env},
    )
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim()).toBe(`bk: ${FIXTURE_BACKUP} is a MySQL/MariaDB site; give a --db-admin-url of that engine`)
    const none = await runBk(
      ['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.root, '--location', p.location, '--yes'],
      {env},
    )
    expect(none.exitCode).toBe(1)
    expect(none.stderr.trim()).toBe(`bk: ${p.root} is not a Drupal platform (it has no sites/ folder)`)
    expect(existsSync(join(p.platform, 'sites/example.com'))).toBe(false)
  })

  it('a dump that does not load: the new database and user are dropped, no folder or stage is left', async () => {
    const p = freshPlatform()
    const src = tempDir()
    execFileSync('tar', ['-xzpf', fixturePath('aegir', 'backups', FIXTURE_BACKUP), '-C', src])
    writeFileSync(join(src, 'database.sql'), `${readFileSync(join(src, 'database.sql'), 'utf8')}\nTHIS IS NOT SQL;\n`)
    chmodSync(join(src, 'database.sql'), 0o600)
    mkdirSync(p.location, {recursive: true})
    const broken = join(p.location, 'example.com-20261122.101010.tar.gz')
    execFileSync('tar', ['-czpf', broken, '-C', src, '.'])
    const db = uniqueDbName()
    created.push(db)
    const r = await runBk(['aegir', 'deploy', broken, p.platform, '--location', p.location, '--db-name', db, '--yes'], {
      env,
    })
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(dbExists(db)).toBe(false)
    expect(userExists(db)).toBe(false)
    expect(readdirSync(join(p.platform, 'sites')).sort()).toEqual(['all', 'sibling.example.org'])
  })

  it('a backup renamed by hand: the uri comes from its drushrc.php, or --old-uri; --owner by name', async () => {
    const p = freshPlatform()
    const renamed = join(tempDir(), 'lost-server.tar.gz')
    execFileSync('cp', [fixturePath('aegir', 'backups', FIXTURE_BACKUP), renamed])
    const admin = await adminTarget({url: 'mysql://root@127.0.0.1:3306/', env: {}})
    const fromDrushrc = await BackupDeploy.open(renamed, p.platform, {location: p.location, admin})
    expect([fromDrushrc.fromUri, fromDrushrc.target]).toEqual(['example.com', join(p.platform, 'sites/example.com')])
    const given = await BackupDeploy.open(renamed, p.platform, {
      location: p.location,
      admin,
      oldUri: 'example.com',
      uri: 'b.example.org',
    })
    expect(given.target).toBe(join(p.platform, 'sites/b.example.org'))
    const db = uniqueDbName()
    created.push(db)
    const r = await runBk(
      ['aegir', 'deploy', renamed, p.platform, '--location', p.location, '--db-name', db, '--owner', 'root', '--yes'],
      {env},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    if (isRoot) expect(owners(join(p.platform, 'sites/example.com')).modules).toBe('0:0')
    const unknown = await runBk(['aegir', 'deploy', renamed, p.platform, '--owner', 'no-such-user-here', '--yes'], {
      env,
    })
    expect(unknown.stderr.trim()).toBe(
      "bk: unknown user 'no-such-user-here' (--owner); give user[:group] as names or numbers",
    )
  })

  it("refuses a site in place that another command's killed run left, rather than calling it its own", async () => {
    const p = freshPlatform()
    const site = join(p.platform, 'sites/example.com')
    execFileSync('cp', ['-a', p.sibling, site])
    // a restore killed after its commit: its journal is beside the site (pid 2^22 + 1 is never alive)
    const journal = {pid: 4194305, command: 'bk aegir restore', started: new Date().toISOString(), phase: 'committed'}
    writeFileSync(join(p.platform, 'sites/.example.com.bk-aegir.json'), JSON.stringify(journal))
    const r = await runBk(
      [
        'aegir',
        'deploy',
        fixturePath('aegir', 'backups', FIXTURE_BACKUP),
        p.platform,
        '--location',
        p.location,
        '--yes',
      ],
      {env},
    )
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim()).toBe(
      `bk: example.com already exists on ${p.platform} (${site}); to put a backup over it use bk aegir restore`,
    )
  })
})
