import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {createArchive} from '@bkcli/core'
import {extractFixture, fixturePath, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {adminTarget} from '../src/admin.js'
import {backupSite} from '../src/backup.js'
import {readSiteDatabase} from '../src/drupal/credentials.js'
import {lexPhp} from '../src/php/lexer.js'
import {restoreSite} from '../src/restore.js'
import {openSite} from '../src/site.js'
import {
  dropDatabases,
  FIXTURE_BACKUP,
  fixtureCounts,
  makeTestSite,
  mysqlRoot,
  type TestSite,
  tableCounts,
  uniqueDbName,
} from './helpers.js'

let sites: TestSite[] = []
const extraDbs: string[] = []
const extraUsers: string[] = []
afterEach(() => {
  for (const u of extraUsers.splice(0)) mysqlRoot(`DROP USER IF EXISTS '${u}'@'%'`)
  for (const s of sites) s.drop()
  sites = []
  if (extraDbs.length) dropDatabases(...extraDbs.splice(0))
})

/** mode, size and sha256 of every path under a folder (what "the site is unchanged" means). */
function treeState(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const visit = (abs: string) => {
    const st = statSync(abs)
    const rel = relative(dir, abs) || '.'
    const mode = (st.mode & 0o7777).toString(8)
    if (st.isDirectory()) {
      out[rel] = `d ${mode}`
      for (const name of readdirSync(abs)) visit(join(abs, name))
    } else {
      out[rel] = `f ${mode} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`
    }
  }
  visit(dir)
  return out
}

/**
 * The databases a restore of example.com could create or drop (provision names them after the uri), beside the
 * test site's own: other test files create and drop their own databases on the same server meanwhile.
 */
function databases(): string[] {
  return mysqlRoot('SHOW DATABASES')
    .trim()
    .split('\n')
    .filter((name) => name.startsWith(`bkn${process.pid}_`) || sites.some((t) => t.database === name))
    .sort()
}

function maintenanceValue(db: string): string {
  return mysqlRoot("SELECT value FROM variable WHERE name = 'maintenance_mode'", db).trim()
}

async function setup() {
  const t = makeTestSite()
  sites.push(t)
  mkdirSync(t.location, {recursive: true, mode: 0o700})
  copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), join(t.location, FIXTURE_BACKUP))
  // the live site differs from the backup, so a restore is visible
  mysqlRoot(
    "UPDATE node SET title = 'changed after the backup' WHERE nid = 1; INSERT INTO cache VALUES ('x','y',0);",
    t.database,
  )
  writeFileSync(join(t.site, 'files/css/new.css'), 'made after the backup')
  const admin = await adminTarget({url: 'mysql://root@127.0.0.1:3306/', env: {}})
  return {t, admin}
}

function siblings(t: TestSite): string[] {
  return readdirSync(join(t.platform, 'sites')).sort()
}

/** The fixture backup with its database.sql rewritten by `edit`, as a newer backup in `location`; its path. */
function brokenBackup(location: string, edit: (dump: string) => string): string {
  const work = tempDir()
  execFileSync('tar', ['-xzpf', join(location, FIXTURE_BACKUP), '-C', work])
  writeFileSync(join(work, 'database.sql'), edit(readFileSync(join(work, 'database.sql'), 'utf8')))
  const broken = join(location, 'example.com-20261120.090000.tar.gz')
  execFileSync('tar', ['-czpf', broken, '-C', work, '.'])
  return broken
}

describe('restoreSite', () => {
  it('restores the fixture backup: files and modes as the platform fixture, rows as counts.tsv, new db, old one gone', async () => {
    const {t, admin} = await setup()
    const site = await openSite(t.site)
    expect(site.drupal?.major).toBe(7)
    const pids: string[] = []
    const result = await restoreSite(site, FIXTURE_BACKUP, {
      location: t.location,
      admin,
      dbName: uniqueDbName(),
      onSpawn: (pid) => {
        try {
          pids.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
        } catch {}
      },
    })
    extraDbs.push(result.database.new)
    extraUsers.push(result.database.user)

    // files and modes: the fixture platform's site folder, settings.php/drushrc.php aside (new credentials)
    const platformRoot = extractFixture('aegir', 'platforms')
    const expected = treeState(join(platformRoot, 'platforms/drupal-7/sites/example.com'))
    const actual = treeState(t.site)
    for (const name of ['settings.php', 'drushrc.php']) {
      expect(actual[name]?.split(' ').slice(0, 2)).toEqual(expected[name]?.split(' ').slice(0, 2))
      delete actual[name]
      delete expected[name]
    }
    expect(actual).toEqual(expected)

    // tables and rows as counts.tsv, text intact
    expect(tableCounts(result.database.new)).toEqual(fixtureCounts())
    expect(mysqlRoot('SELECT title FROM node WHERE nid = 1', result.database.new).trim()).toBe('Article 1 🚀 café')
    expect(mysqlRoot('SELECT name FROM users WHERE uid = 2', result.database.new).trim()).toBe('José Müller')
    expect(maintenanceValue(result.database.new)).toBe('i:0;')

    // settings.php points at the new database, still valid PHP, with a fresh password
    const db = await readSiteDatabase(t.site)
    expect(db.database).toBe(result.database.new)
    expect(db.username).toBe(result.database.user)
    expect(db.password).not.toBe(t.password)
    expect(db.password).toMatch(/^[a-zA-Z2-9]{24}$/)
    const settings = readFileSync(join(t.site, 'settings.php'), 'utf8')
    expect(settings).toContain(
      `$db_url['default'] = "mysql://${db.username}:${db.password}@127.0.0.1:3306/${db.database}";`,
    )
    let depth = 0
    for (const tok of lexPhp(settings)) {
      if (['(', '[', '{'].includes(tok.text)) depth++
      if ([')', ']', '}'].includes(tok.text)) depth--
    }
    expect(depth).toBe(0)
    const cnf = join(tempDir(), 'client.cnf')
    writeFileSync(cnf, `[client]\nuser=${db.username}\npassword=${db.password}\n`, {mode: 0o600})
    const login = execFileSync(
      'mysql',
      [
        `--defaults-file=${cnf}`,
        '-h127.0.0.1',
        '--batch',
        '--skip-column-names',
        db.database,
        '-e',
        'SELECT COUNT(*) FROM node',
      ],
      {encoding: 'utf8'},
    )
    expect(login.trim()).toBe('200')

    // old database and user gone; pre-restore backup kept, with its reason
    expect(databases()).not.toContain(t.database)
    expect(mysqlRoot(`SELECT COUNT(*) FROM mysql.user WHERE User = '${t.user}'`).trim()).toBe('0')
    expect(existsSync(result.preRestoreBackup)).toBe(true)
    const sidecar = JSON.parse(readFileSync(`${result.preRestoreBackup}.bk.json`, 'utf8'))
    expect(sidecar.description).toBe('Generated before being restored to a previous version')
    // the pre-restore backup holds the live state (with maintenance mode on, as Aegir's does)
    const preSql = execFileSync('tar', ['-xzOf', result.preRestoreBackup, './database.sql'], {encoding: 'utf8'})
    expect(preSql).toContain('changed after the backup')
    expect(preSql).toContain("('maintenance_mode','i:1;')")

    // nothing left beside the site; the import client never saw a password
    expect(siblings(t)).toEqual(['all', 'example.com'])
    expect(pids.some((a) => a.includes('mysql'))).toBe(true)
    for (const argv of pids) {
      expect(argv).not.toContain(db.password)
      expect(argv).not.toContain(t.password)
    }
  })

  it("restores a backup in bk's earlier layout (member names without './', no root entry)", async () => {
    const {t, admin} = await setup()
    const work = tempDir()
    execFileSync('tar', ['-xzpf', join(t.location, FIXTURE_BACKUP), '-C', work])
    const old = join(t.location, 'example.com-20261119.101010.tar.gz')
    await createArchive({cwd: work, file: old, secret: true})
    const names = execFileSync('tar', ['-tzf', old], {encoding: 'utf8'}).trim().split('\n')
    expect(names).toContain('database.sql')
    expect(names.some((n) => n.startsWith('./'))).toBe(false)
    const site = await openSite(t.site)
    const result = await restoreSite(site, old, {location: t.location, admin, dbName: uniqueDbName()})
    extraDbs.push(result.database.new)
    extraUsers.push(result.database.user)
    expect(tableCounts(result.database.new)).toEqual(fixtureCounts())
    expect(mysqlRoot('SELECT title FROM node WHERE nid = 1', result.database.new).trim()).toBe('Article 1 🚀 café')
    expect(existsSync(join(t.site, 'files/css/new.css'))).toBe(false) // made after the backup: gone
    expect(readFileSync(join(t.site, 'files/css/css_abc.css'))).toEqual(
      readFileSync(join(work, 'files/css/css_abc.css')),
    )
  })

  it('refuses a damaged archive before touching anything', async () => {
    const {t, admin} = await setup()
    const bad = join(t.location, 'example.com-20261120.101010.tar.gz')
    const good = readFileSync(join(t.location, FIXTURE_BACKUP))
    writeFileSync(bad, good.subarray(0, Math.floor(good.length * 0.6)))
    const before = treeState(t.site)
    const dbsBefore = databases()
    const site = await openSite(t.site)
    await expect(restoreSite(site, bad, {location: t.location, admin, dbName: uniqueDbName()})).rejects.toThrow(
      /corrupt|truncated/,
    )
    expect(treeState(t.site)).toEqual(before)
    expect(databases()).toEqual(dbsBefore)
    expect(maintenanceValue(t.database)).toBe('i:0;')
    expect(mysqlRoot('SELECT title FROM node WHERE nid = 1', t.database).trim()).toBe('changed after the backup')
    expect(readdirSync(t.location).filter((n) => n.endsWith('.bk.json'))).toEqual([])

    // a bk backup whose bytes changed after it was made (its sidecar says so)
    const made = await backupSite(site, {location: t.location, now: new Date(2026, 0, 2, 3, 4, 5)})
    const bytes = readFileSync(made.file)
    bytes[bytes.length - 5] = (bytes[bytes.length - 5]! + 1) % 256
    writeFileSync(made.file, bytes)
    const stateBefore = treeState(t.site)
    await expect(restoreSite(site, made.file, {location: t.location, admin, dbName: uniqueDbName()})).rejects.toThrow(
      /does not match the checksum/,
    )
    expect(treeState(t.site)).toEqual(stateBefore)
    expect(databases()).toEqual(dbsBefore)
  })

  it('an import error leaves the live site and database as they were, drops the new db, keeps the pre-restore backup', async () => {
    const {t, admin} = await setup()
    // a backup whose dump fails half-way
    const broken = brokenBackup(t.location, (dump) => `${dump}\nTHIS IS NOT SQL;\n`)
    const before = treeState(t.site)
    const dbsBefore = databases()
    const site = await openSite(t.site)
    const error = await restoreSite(site, broken, {location: t.location, admin, dbName: uniqueDbName()}).catch(
      (e) => e as Error,
    )
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(/pre-restore backup is kept/)
    expect(treeState(t.site)).toEqual(before)
    expect(databases()).toEqual(dbsBefore)
    expect(maintenanceValue(t.database)).toBe('i:0;')
    expect(tableCounts(t.database).cache).toBe(2)
    expect(siblings(t)).toEqual(['all', 'example.com'])
    const kept = readdirSync(t.location).filter((n) => n.endsWith('.bk.json'))
    expect(kept).toHaveLength(1)
    expect(JSON.parse(readFileSync(join(t.location, kept[0]!), 'utf8')).kind).toBe('pre-restore')
  })

  it('a dump with a client command (system) is refused before mysql runs; the command never runs', async () => {
    const {t, admin} = await setup()
    const marker = join(tempDir(), 'ran')
    let dump = ''
    const broken = brokenBackup(t.location, (original) => {
      dump = original
      return `${original}\nsystem touch ${marker}\n`
    })
    const before = treeState(t.site)
    const dbsBefore = databases()
    const site = await openSite(t.site)
    const error = await restoreSite(site, broken, {location: t.location, admin, dbName: uniqueDbName()}).catch(
      (e) => e as Error,
    )
    const line = dump.split('\n').length + 1
    expect((error as Error).message).toMatch(
      new RegExp(
        `has the mysql command 'system touch .*' at line ${line}, .*nothing was loaded into .*pre-restore backup is kept`,
      ),
    )
    expect((error as Error).message).not.toContain('\n')
    expect(existsSync(marker)).toBe(false)
    expect(treeState(t.site)).toEqual(before)
    expect(databases()).toEqual(dbsBefore)
    expect(tableCounts(t.database).cache).toBe(2)
  })

  it('a database server that refuses the admin account changes nothing', async () => {
    const {t} = await setup()
    const before = treeState(t.site)
    const site = await openSite(t.site)
    const admin = await adminTarget({url: 'mysql://root@127.0.0.1:3306/', env: {BK_DB_ADMIN_PASSWORD: 'wrong'}})
    await expect(
      restoreSite(site, FIXTURE_BACKUP, {location: t.location, admin, dbName: uniqueDbName()}),
    ).rejects.toThrow(/refused the password/)
    expect(treeState(t.site)).toEqual(before)
    expect(maintenanceValue(t.database)).toBe('i:0;')
    expect(readdirSync(t.location)).toEqual([FIXTURE_BACKUP])
  })

  it('an admin account that may not create users fails after the pre-restore backup and rolls back', async () => {
    const {t} = await setup()
    const weak = `bkweak_${t.user.slice(4)}`
    mysqlRoot(`CREATE USER '${weak}'@'%' IDENTIFIED BY 'weakpw'; GRANT SELECT ON *.* TO '${weak}'@'%';`)
    try {
      const before = treeState(t.site)
      const dbsBefore = databases()
      const site = await openSite(t.site)
      const admin = await adminTarget({url: `mysql://${weak}@127.0.0.1:3306/`, env: {BK_DB_ADMIN_PASSWORD: 'weakpw'}})
      await expect(
        restoreSite(site, FIXTURE_BACKUP, {location: t.location, admin, dbName: uniqueDbName()}),
      ).rejects.toThrow(/pre-restore backup is kept/)
      expect(treeState(t.site)).toEqual(before)
      expect(databases()).toEqual(dbsBefore)
      expect(maintenanceValue(t.database)).toBe('i:0;')
      expect(readdirSync(t.location).filter((n) => n.endsWith('.bk.json'))).toHaveLength(1)
    } finally {
      mysqlRoot(`DROP USER '${weak}'@'%'`)
    }
  })

  it('a stale staging folder of an interrupted run does not block the next restore', async () => {
    const {t, admin} = await setup()
    const stale = join(t.platform, 'sites', '.example.com.bk-restore-999999')
    mkdirSync(join(stale, 'files'), {recursive: true})
    writeFileSync(join(stale, 'settings.php'), '<?php // half-extracted')
    const site = await openSite(t.site)
    const result = await restoreSite(site, undefined, {location: t.location, admin, dbName: uniqueDbName()})
    extraDbs.push(result.database.new)
    extraUsers.push(result.database.user)
    expect(result.backup).toBe(join(t.location, FIXTURE_BACKUP))
    expect(existsSync(stale)).toBe(false)
    expect(tableCounts(result.database.new)).toEqual(fixtureCounts())
  })
})

describe('restoreSite of a cloaked site', () => {
  it('rewrites drushrc.php and warns that the vhost must pass the new credentials', async () => {
    const {t, admin} = await setup()
    // settings.php as provision writes it with cloaking on: credentials from $_SERVER (set by the vhost)
    const file = join(t.site, 'settings.php')
    const text = readFileSync(file, 'utf8')
    const start = text.indexOf("  $databases['default']['default'] = array(")
    const end = text.indexOf('  $profile')
    writeFileSync(
      file,
      `${text.slice(0, start)}  $databases['default']['default'] = array(
    'driver' => urldecode($_SERVER['db_type']),
    'database' => urldecode($_SERVER['db_name']),
    'username' => urldecode($_SERVER['db_user']),
    'password' => urldecode($_SERVER['db_passwd']),
    'host' => urldecode($_SERVER['db_host']),
  );

${text.slice(end)}`,
    )
    const site = await openSite(t.site)
    expect(site.database.from).toBe('drushrc.php')
    const made = await backupSite(site, {location: t.location, now: new Date(2026, 0, 3)})
    const result = await restoreSite(site, made.file, {location: t.location, admin, dbName: uniqueDbName()})
    extraDbs.push(result.database.new)
    extraUsers.push(result.database.user)
    expect(result.warnings.join('\n')).toMatch(/cloaked.*provision-verify/)
    const db = await readSiteDatabase(t.site)
    expect(db).toMatchObject({database: result.database.new, username: result.database.user, from: 'drushrc.php'})
    expect(readFileSync(file, 'utf8')).toContain("urldecode($_SERVER['db_passwd'])")
    expect(tableCounts(result.database.new).node).toBe(200)
  })
})
