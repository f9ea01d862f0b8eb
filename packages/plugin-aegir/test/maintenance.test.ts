import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {dbClient} from '@bkcli/core'
import {afterEach, describe, expect, it} from 'vitest'
import {backupSite} from '../src/backup.js'
import {isOn, readMaintenance, setMaintenance} from '../src/drupal/maintenance.js'
import {sessionFor} from '../src/session.js'
import {openSite} from '../src/site.js'
import {dropDatabases, makeTestSite, mysqlRoot, requireMariadb, type TestSite} from './helpers.js'

const dbs: string[] = []
let sites: TestSite[] = []
afterEach(() => {
  if (dbs.length) dropDatabases(...dbs.splice(0))
  for (const s of sites) s.drop()
  sites = []
})

function scratch(ddl: string): string {
  requireMariadb()
  const name = `bkm_${randomBytes(4).toString('hex')}`
  mysqlRoot(`CREATE DATABASE \`${name}\``)
  dbs.push(name)
  mysqlRoot(ddl, name)
  return name
}

const session = (database: string) =>
  sessionFor(
    dbClient({engine: 'mysql', host: '127.0.0.1', port: 3306, user: 'root', password: '', database, params: {}}),
    'mysql',
  )

describe('maintenance mode per Drupal major', () => {
  it('D8+: state system.maintenance_mode in key_value, cache_bootstrap state entry cleared, restored afterwards', async () => {
    const db =
      scratch(`CREATE TABLE key_value (collection varchar(128), name varchar(128), value longblob, PRIMARY KEY (collection, name));
      CREATE TABLE cache_bootstrap (cid varchar(255) PRIMARY KEY, data longblob);
      INSERT INTO cache_bootstrap VALUES ('state', 'cached'), ('other', 'x');`)
    const s = session(db)
    try {
      const before = await setMaintenance(s, 9, true)
      expect(before).toBeUndefined()
      expect(
        mysqlRoot(
          "SELECT value FROM key_value WHERE collection = 'state' AND name = 'system.maintenance_mode'",
          db,
        ).trim(),
      ).toBe('b:1;')
      expect(mysqlRoot('SELECT cid FROM cache_bootstrap', db).trim()).toBe('other')
      expect(isOn(await readMaintenance(s, 9))).toBe(true)
      await setMaintenance(s, 9, before)
      expect(mysqlRoot('SELECT COUNT(*) FROM key_value', db).trim()).toBe('0')
    } finally {
      await s.close()
    }
  })

  it('D6: variable site_offline and the variables cache in cache; D7: maintenance_mode', async () => {
    const db = scratch(`CREATE TABLE variable (name varchar(128) PRIMARY KEY, value longblob NOT NULL);
      CREATE TABLE cache (cid varchar(255) PRIMARY KEY, data longblob);
      INSERT INTO variable VALUES ('site_offline', 's:1:"0";');
      INSERT INTO cache VALUES ('variables', 'a:0:{}');`)
    const s = session(db)
    try {
      const before = await setMaintenance(s, 6, true)
      expect(before).toBe('s:1:"0";')
      expect(mysqlRoot("SELECT value FROM variable WHERE name = 'site_offline'", db).trim()).toBe('i:1;')
      expect(mysqlRoot('SELECT COUNT(*) FROM cache', db).trim()).toBe('0')
      await setMaintenance(s, 6, before)
      expect(mysqlRoot("SELECT value FROM variable WHERE name = 'site_offline'", db).trim()).toBe('s:1:"0";')
      await setMaintenance(s, 7, true)
      expect(mysqlRoot("SELECT value FROM variable WHERE name = 'maintenance_mode'", db).trim()).toBe('i:1;')
    } finally {
      await s.close()
    }
  })
})

describe('dump contents', () => {
  it('dumps routines, triggers and events without DEFINER clauses (configurable)', async () => {
    const t = makeTestSite()
    sites.push(t)
    mysqlRoot(
      `CREATE DEFINER='${t.user}'@'%' TRIGGER node_touch BEFORE UPDATE ON node FOR EACH ROW SET NEW.created = NEW.created;
       CREATE DEFINER='${t.user}'@'%' FUNCTION answer() RETURNS INT DETERMINISTIC RETURN 42;
       CREATE DEFINER='${t.user}'@'%' EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM cache WHERE expire < 0;`,
      t.database,
    )
    const site = await openSite(t.site)
    const stripped = await backupSite(site, {location: t.location, now: new Date(2026, 0, 1)})
    const sql = execFileSync('tar', ['-xzOf', stripped.file, './database.sql'], {encoding: 'utf8'})
    expect(sql).toMatch(/TRIGGER `?node_touch/)
    expect(sql).toMatch(/FUNCTION `?answer/)
    expect(sql).toMatch(/EVENT `?nightly/)
    expect(sql).not.toMatch(/DEFINER/)
    const kept = await backupSite(site, {location: t.location, now: new Date(2026, 0, 2), stripDefiner: false})
    expect(execFileSync('tar', ['-xzOf', kept.file, './database.sql'], {encoding: 'utf8'})).toContain(
      `DEFINER=\`${t.user}\`@\`%\``,
    )
  })
})
