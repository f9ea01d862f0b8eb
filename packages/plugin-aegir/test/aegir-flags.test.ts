// The database flags of bk aegir do what their help says, seen from outside: --db-admin-password-file is the
// admin password (a clone without it is refused by the server) and never reaches a client's argv (the
// mysql/mysqldump on PATH are stand-ins that log their argv, i.e. their /proc/<pid>/cmdline, then exec the real
// ones); --db-grant-host is the host of the new account in mysql.user; --strip-definer removes the DEFINER of a
// view from the dump in the backup tarball, and --no-strip-definer keeps it.
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {
  dbExists,
  FIXTURE_BACKUP,
  fixtureCounts,
  freshPlatform,
  makeTestSite,
  mysqlRoot,
  type TestSite,
  tableCounts,
  uniqueDbName,
} from './helpers.js'

const sites: TestSite[] = []
const cleanups: string[] = []
afterAll(() => {
  for (const sql of cleanups) mysqlRoot(sql)
  for (const t of sites) t.drop()
})

/** A folder of stand-ins for the MariaDB client tools that log their argv to `log`, then run the real tool. */
function loggingClients(log: string): string {
  const dir = tempDir('bk-aegir-clients-')
  for (const name of ['mysql', 'mariadb', 'mysqldump', 'mariadb-dump']) {
    const real = execFileSync('sh', ['-c', `command -v ${name}`], {encoding: 'utf8'}).trim()
    const file = join(dir, name)
    writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "$0 $*" >> '${log}'\nexec '${real}' "$@"\n`)
    chmodSync(file, 0o755)
  }
  return dir
}

/** The database.sql in a provision tarball. */
function dumpOf(tarball: string): string {
  return execFileSync('tar', ['-xzOf', tarball, './database.sql'], {encoding: 'utf8', maxBuffer: 64 << 20})
}

describe('bk aegir database flags', () => {
  it('clone: --db-admin-password-file is used and never in argv; --db-grant-host is the account host', async () => {
    const t = makeTestSite()
    sites.push(t)
    const admin = `bkadm_${randomBytes(3).toString('hex')}`
    const password = `Adm_${randomBytes(8).toString('hex')}`
    mysqlRoot(
      `CREATE USER '${admin}'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON *.* TO '${admin}'@'%' WITH GRANT OPTION;`,
    )
    cleanups.push(`DROP USER IF EXISTS '${admin}'@'%';`)
    const passwordFile = join(tempDir('bk-aegir-pw-'), 'admin-password')
    writeFileSync(passwordFile, `${password}\n`, {mode: 0o600})
    const db = uniqueDbName()
    cleanups.push(
      `DROP DATABASE IF EXISTS \`${db}\`; DROP USER IF EXISTS '${db}'@'127.0.0.1'; DROP USER IF EXISTS '${db}'@'%';`,
    )
    const log = join(tempDir('bk-aegir-argv-'), 'argv.log')
    const env = {PATH: `${loggingClients(log)}:${process.env.PATH}`, BK_DB_ADMIN_PASSWORD: undefined}
    const argv = ['aegir', 'clone', t.site, 'clone.example.org', '--location', t.location, '--db-name', db]
    const admin0 = ['--db-admin-url', `mysql://${admin}@127.0.0.1:3306`, '--db-grant-host', '127.0.0.1', '--yes']

    const refused = await runBk([...argv, ...admin0], {env})
    expect(refused.exitCode).not.toBe(0)
    expect(dbExists(db)).toBe(false)

    const r = await runBk([...argv, ...admin0, '--db-admin-password-file', passwordFile], {env})
    expect(r.exitCode, r.stderr).toBe(0)
    expect(dbExists(db)).toBe(true)
    expect(mysqlRoot(`SELECT Host FROM mysql.user WHERE User = '${db}'`).trim().split('\n')).toEqual(['127.0.0.1'])
    const calls = readFileSync(log, 'utf8')
    expect(calls).toMatch(/mysql/) // the clients did run through the stand-ins
    expect(calls).not.toContain(password)
    expect(r.stdout + r.stderr).not.toContain(password)
  })

  it('backup: --strip-definer (the default) removes a view DEFINER from the dump; --no-strip-definer keeps it', async () => {
    const t = makeTestSite()
    sites.push(t)
    mysqlRoot('CREATE VIEW bk_flags_view AS SELECT 1 AS one;', t.database)
    const dumps: Record<string, string> = {}
    for (const flag of ['--strip-definer', '--no-strip-definer']) {
      const location = tempDir('bk-aegir-definer-')
      const r = await runBk(['aegir', 'backup', t.site, '--location', location, flag])
      expect(r.exitCode, r.stderr).toBe(0)
      const tarball = readdirSync(location).find((n) => n.endsWith('.tar.gz'))
      expect(tarball && existsSync(join(location, tarball))).toBeTruthy()
      dumps[flag] = dumpOf(join(location, tarball!))
    }
    expect(dumps['--strip-definer']).toContain('bk_flags_view')
    expect(dumps['--strip-definer']).not.toMatch(/DEFINER\s*=/i)
    expect(dumps['--no-strip-definer']).toMatch(/DEFINER\s*=\s*`root`@/i)
  })
  it('verify --from checks the copy on the remote, and fails once that copy is damaged', async () => {
    const t = makeTestSite()
    sites.push(t)
    const targets = offsiteTargets()
    const remote = targets.plain('aegir')
    const argv = ['aegir', 'backup', t.site, '--location', t.location, '--copy-to', remote, '--allow-unencrypted']
    const r = await runBk(argv, {env: targets.env})
    expect(r.exitCode, r.stderr).toBe(0)
    const name = readdirSync(join(targets.dir, 'aegir')).find((n) => n.endsWith('.tar.gz'))!
    const ok = await runBk(['aegir', 'verify', name, '--from', remote, '--json'], {env: targets.env})
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(ok.json<{ok: boolean}>()).toMatchObject({ok: true})
    writeFileSync(join(targets.dir, 'aegir', name), 'damaged')
    const bad = await runBk(['aegir', 'verify', name, '--from', remote], {env: targets.env})
    expect(bad.exitCode).toBe(1)
  })
})

describe('bk aegir migrate --new-uri', () => {
  it('the site lands on the new platform under the new uri, its paths rewritten; the old site retired', async () => {
    const t = makeTestSite()
    sites.push(t)
    const target = join(t.root, 'platforms', 'drupal-7.2')
    mkdirSync(join(target, 'sites', 'all'), {recursive: true})
    const db = uniqueDbName()
    cleanups.push(`DROP DATABASE IF EXISTS \`${db}\`; DROP USER IF EXISTS '${db}'@'%';`)
    const r = await runBk([
      'aegir',
      'migrate',
      t.site,
      target,
      '--new-uri',
      'www.example.net',
      '--location',
      t.location,
      '--db-name',
      db,
      '--db-admin-url',
      'mysql://root@127.0.0.1:3306',
      '--yes',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    const site = join(target, 'sites', 'www.example.net')
    expect(readFileSync(join(site, 'drushrc.php'), 'utf8')).toContain("$options['uri'] = 'www.example.net';")
    expect(readFileSync(join(site, 'settings.php'), 'utf8')).toContain(
      `'${target}/sites/www.example.net/local.settings.php'`,
    )
    expect(mysqlRoot("SELECT value FROM variable WHERE name = 'file_public_path'", db).trim()).toBe(
      's:27:"sites/www.example.net/files";',
    )
    expect(tableCounts(db)).toEqual(fixtureCounts())
    expect(existsSync(t.site)).toBe(false)
    expect(dbExists(t.database)).toBe(false)
  })
})

describe('bk aegir deploy --uri', () => {
  it('puts the backup of example.com on the platform as the uri given, drushrc and files path naming it', async () => {
    const p = freshPlatform()
    const db = uniqueDbName()
    cleanups.push(`DROP DATABASE IF EXISTS \`${db}\`; DROP USER IF EXISTS '${db}'@'%';`)
    const backup = fixturePath('aegir', 'backups', FIXTURE_BACKUP)
    const argv = ['aegir', 'deploy', backup, p.platform, '--location', p.location, '--db-name', db]
    const r = await runBk([...argv, '--uri', 'deployed.example.org', '--yes'], {env: {BK_DB_ADMIN_PASSWORD: ''}})
    expect(r.exitCode, r.stderr).toBe(0)
    const site = join(p.platform, 'sites', 'deployed.example.org')
    expect(readFileSync(join(site, 'drushrc.php'), 'utf8')).toContain("$options['uri'] = 'deployed.example.org';")
    expect(mysqlRoot("SELECT value FROM variable WHERE name = 'file_public_path'", db).trim()).toBe(
      's:32:"sites/deployed.example.org/files";',
    )
    expect(tableCounts(db)).toEqual(fixtureCounts())
    expect(existsSync(join(p.platform, 'sites', 'example.com'))).toBe(false)
  })
})
