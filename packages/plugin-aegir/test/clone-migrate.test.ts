import {existsSync, mkdirSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {adminTarget} from '../src/admin.js'
import {cloneSite, migrateSite} from '../src/clone-migrate.js'
import {readSiteDatabase} from '../src/drupal/credentials.js'
import {openSite} from '../src/site.js'
import {fixtureCounts, makeTestSite, mysqlRoot, type TestSite, tableCounts, uniqueDbName} from './helpers.js'

let sites: TestSite[] = []
const cleanup: string[] = []
afterEach(() => {
  for (const s of sites) s.drop()
  sites = []
  for (const sql of cleanup.splice(0)) mysqlRoot(sql)
})

const admin = () => adminTarget({url: 'mysql://root@127.0.0.1:3306/', env: {}})
const variable = (db: string, name: string) => mysqlRoot(`SELECT value FROM variable WHERE name = '${name}'`, db).trim()

describe('cloneSite', () => {
  it('deploys a copy under a new uri with paths rewritten, serialized lengths fixed, the source untouched', async () => {
    const t = makeTestSite()
    sites.push(t)
    const sourceSettings = readFileSync(join(t.site, 'settings.php'), 'utf8')
    const site = await openSite(t.site)
    const result = await cloneSite(site, 'clone.example.org', {
      location: t.location,
      admin: await admin(),
      dbName: uniqueDbName(),
    })
    cleanup.push(`DROP DATABASE IF EXISTS \`${result.database}\`; DROP USER IF EXISTS '${result.user}'@'%';`)
    expect(result.site).toBe(join(t.platform, 'sites', 'clone.example.org'))
    expect(result.rewrittenValues).toBe(1)
    expect(variable(result.database, 'file_public_path')).toBe('s:29:"sites/clone.example.org/files";')
    expect(tableCounts(result.database)).toEqual(fixtureCounts())
    expect(mysqlRoot('SELECT title FROM node WHERE nid = 7', result.database).trim()).toBe('Article 7 🚀 café')

    const settings = readFileSync(join(result.site, 'settings.php'), 'utf8')
    expect(settings).toContain("$conf['file_public_path'] = 'sites/clone.example.org/files';")
    expect(settings).toContain('/var/aegir/platforms/drupal-7/sites/clone.example.org/local.settings.php')
    expect(settings).not.toMatch(/sites\/example\.com/)
    expect(readFileSync(join(result.site, 'drushrc.php'), 'utf8')).toContain("$options['uri'] = 'clone.example.org';")
    const db = await readSiteDatabase(result.site)
    expect(db).toMatchObject({database: result.database, username: result.user})
    expect(readdirSync(join(result.site, 'files/pictures'))).toEqual(['picture-1.jpg'])
    expect(existsSync(join(result.site, 'database.sql'))).toBe(false)

    // the source runs on, unchanged
    expect(readFileSync(join(t.site, 'settings.php'), 'utf8')).toBe(sourceSettings)
    expect(variable(t.database, 'file_public_path')).toBe('s:23:"sites/example.com/files";')
    expect(variable(t.database, 'maintenance_mode')).toBe('i:0;')

    await expect(
      cloneSite(site, 'clone.example.org', {location: t.location, admin: await admin(), dbName: uniqueDbName()}),
    ).rejects.toThrow(/already exists/)
    await expect(
      cloneSite(site, '../evil', {location: t.location, admin: await admin(), dbName: uniqueDbName()}),
    ).rejects.toThrow(/not a site uri/)
  })
})

describe('migrateSite', () => {
  it('moves the site to another platform under a new uri, then retires the old database, user and folder', async () => {
    const t = makeTestSite()
    sites.push(t)
    const target = join(t.root, 'platforms', 'drupal-7.2')
    mkdirSync(join(target, 'sites', 'all'), {recursive: true})
    const site = await openSite(t.site)
    const result = await migrateSite(site, target, {
      location: t.location,
      admin: await admin(),
      newUri: 'www.example.net',
    })
    cleanup.push(`DROP DATABASE IF EXISTS \`${result.database}\`; DROP USER IF EXISTS '${result.user}'@'%';`)
    expect(result.site).toBe(join(target, 'sites', 'www.example.net'))
    expect(result.database).toBe('examplenet') // provision's suggest_db_name: no www., no dots
    expect(existsSync(t.site)).toBe(false)
    expect(result.oldDatabaseDropped).toBe(true)
    expect(mysqlRoot(`SHOW DATABASES LIKE '${t.database}'`).trim()).toBe('')
    expect(mysqlRoot(`SELECT COUNT(*) FROM mysql.user WHERE User = '${t.user}'`).trim()).toBe('0')
    expect(variable(result.database, 'file_public_path')).toBe('s:27:"sites/www.example.net/files";')
    expect(variable(result.database, 'maintenance_mode')).toBe('i:0;')
    const settings = readFileSync(join(result.site, 'settings.php'), 'utf8')
    expect(settings).toContain(`'${target}/sites/www.example.net/local.settings.php'`)
    expect(settings).toContain(`'${target}/sites/all/platform.settings.php'`)
    expect(tableCounts(result.database)).toEqual(fixtureCounts())
  })

  it('a failed migrate leaves the source running, online, with its database', async () => {
    const t = makeTestSite()
    sites.push(t)
    const target = join(t.root, 'platforms', 'drupal-7.2')
    mkdirSync(join(target, 'sites'), {recursive: true})
    const weak = `bkw_${t.user.slice(4)}`
    mysqlRoot(`CREATE USER '${weak}'@'%' IDENTIFIED BY 'weakpw'; GRANT SELECT ON *.* TO '${weak}'@'%';`)
    cleanup.push(`DROP USER '${weak}'@'%'`)
    const site = await openSite(t.site)
    const weakAdmin = await adminTarget({url: `mysql://${weak}@127.0.0.1:3306/`, env: {BK_DB_ADMIN_PASSWORD: 'weakpw'}})
    await expect(
      migrateSite(site, target, {location: t.location, admin: weakAdmin, dbName: uniqueDbName()}),
    ).rejects.toThrow()
    expect(existsSync(join(t.site, 'settings.php'))).toBe(true)
    expect(readdirSync(join(target, 'sites'))).toEqual([])
    expect(variable(t.database, 'maintenance_mode')).toBe('i:0;')
    expect(tableCounts(t.database)).toEqual(fixtureCounts())
  })
})
