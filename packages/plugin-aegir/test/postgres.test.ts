import {execFileSync, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {adminTarget} from '../src/admin.js'
import {backupSite} from '../src/backup.js'
import {BackupDeploy} from '../src/deploy-backup.js'
import {readSiteDatabase} from '../src/drupal/credentials.js'
import {listBackups, listingLine} from '../src/list.js'
import {restoreSite} from '../src/restore.js'
import {openSite} from '../src/site.js'

function psql(sql: string, database = 'postgres'): string {
  const r = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'root', '-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', database], {
    input: sql,
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`PostgreSQL at 127.0.0.1:5432 is required: ${r.stderr}`)
  return r.stdout
}

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c()
})

/** A Drupal 7 site on PostgreSQL (driver pgsql): a settings.php in provision's literal form, its own role. */
function makePgSite() {
  const tag = randomBytes(4).toString('hex')
  const database = `bkpg_${tag}`
  const user = `bkpg_${tag}_u`
  const password = `Pg_${randomBytes(6).toString('hex')}`
  psql(
    `CREATE ROLE "${user}" LOGIN PASSWORD '${password}'; CREATE DATABASE "${database}" OWNER "${user}" ENCODING 'UTF8' TEMPLATE template0;`,
  )
  cleanups.push(() => psql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE); DROP ROLE IF EXISTS "${user}";`))
  execFileSync('psql', ['-h', '127.0.0.1', '-U', user, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database], {
    input: `
CREATE TABLE variable (name varchar(128) PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE node (nid serial PRIMARY KEY, title varchar(255) NOT NULL);
CREATE TABLE cache_bootstrap (cid varchar(255) PRIMARY KEY, data bytea);
INSERT INTO variable VALUES ('file_public_path', 's:23:"sites/example.com/files";'), ('maintenance_mode', 'i:0;');
INSERT INTO node (title) SELECT 'Node ' || g || ' 🚀 café' FROM generate_series(1, 150) g;
`,
    env: {...process.env, PGPASSWORD: password},
  })
  const root = tempDir()
  const site = join(root, 'platforms/drupal-7/sites/example.com')
  mkdirSync(join(site, 'files'), {recursive: true})
  mkdirSync(join(root, 'platforms/drupal-7/sites/all'), {recursive: true})
  writeFileSync(
    join(site, 'settings.php'),
    `<?php
  $databases['default']['default'] = array(
    'driver' => "pgsql",
    'database' => "${database}",
    'username' => "${user}",
    'password' => "${password}",
    'host' => "127.0.0.1",
    'port' => "5432",
   );
  $db_url['default'] = "pgsql://${user}:${password}@127.0.0.1:5432/${database}";
  $conf['file_public_path'] = 'sites/example.com/files';
  $drupal_hash_salt = '';
`,
    {mode: 0o440},
  )
  writeFileSync(join(site, 'files/a.txt'), 'a file')
  return {root, site, database, user, password, location: join(root, 'backups')}
}

describe('PostgreSQL sites', () => {
  it('backup → list → restore round trip, passwords never in argv', async () => {
    const t = makePgSite()
    const site = await openSite(t.site)
    expect(site.database.engine).toBe('postgres')
    const argvs: string[] = []
    const spy = (pid: number) => {
      try {
        argvs.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
      } catch {}
    }
    const backup = await backupSite(site, {location: t.location, description: 'pg round trip', onSpawn: spy})
    expect(argvs.some((a) => a.includes('pg_dump'))).toBe(true)
    const list = await listBackups(t.location, t.site)
    expect(list.map(listingLine)).toEqual([`${list[0]?.localTime} - pg round trip`])

    psql("UPDATE node SET title = 'changed' WHERE nid = 1", t.database)
    const admin = await adminTarget({url: 'postgres://root@127.0.0.1:5432/', env: {}})
    const result = await restoreSite(site, backup.file, {location: t.location, admin, onSpawn: spy})
    cleanups.push(() =>
      psql(
        `DROP DATABASE IF EXISTS "${result.database.new}" WITH (FORCE); DROP ROLE IF EXISTS "${result.database.user}";`,
      ),
    )
    expect(result.tables).toEqual({cache_bootstrap: 0, node: 150, variable: 2})
    expect(psql('SELECT title FROM node WHERE nid = 1', result.database.new).trim()).toBe('Node 1 🚀 café')
    expect(
      psql(
        "SELECT convert_from(value, 'UTF8') FROM variable WHERE name = 'maintenance_mode'",
        result.database.new,
      ).trim(),
    ).toBe('i:0;')
    expect(psql(`SELECT count(*) FROM pg_database WHERE datname = '${t.database}'`).trim()).toBe('0')
    expect(psql(`SELECT count(*) FROM pg_roles WHERE rolname = '${t.user}'`).trim()).toBe('0')
    const db = await readSiteDatabase(t.site)
    expect(db).toMatchObject({engine: 'postgres', database: result.database.new, username: result.database.user})
    expect(argvs.some((a) => a.includes('psql'))).toBe(true)
    for (const a of argvs) {
      expect(a).not.toContain(t.password)
      expect(a).not.toContain(db.password)
    }
  })

  it('deploy onto a fresh platform: a new PostgreSQL database and role, settings rewritten, no password in argv', async () => {
    const t = makePgSite()
    const backup = await backupSite(await openSite(t.site), {
      location: t.location,
      description: 'before the server died',
    })
    const fresh = tempDir()
    const platform = join(fresh, 'platforms/drupal-7')
    mkdirSync(join(platform, 'sites/all'), {recursive: true})
    const argvs: string[] = []
    const admin = await adminTarget({url: 'postgres://root@127.0.0.1:5432/', env: {}})
    const deploy = await BackupDeploy.open(backup.file, platform, {
      location: t.location,
      admin,
      onSpawn: (pid) => {
        try {
          argvs.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
        } catch {}
      },
    })
    const plan = await deploy.plan()
    expect(plan.steps.map((s) => `${s.op} ${s.target}`)).toContain(`create ${join(platform, 'sites/example.com')}`)
    const result = await deploy.run()
    cleanups.push(() =>
      psql(`DROP DATABASE IF EXISTS "${result.database}" WITH (FORCE); DROP ROLE IF EXISTS "${result.user}";`),
    )
    expect(result).toMatchObject({
      engine: 'postgres',
      site: join(platform, 'sites/example.com'),
      finishedByRecovery: false,
    })
    expect(result.database).not.toBe(t.database)
    expect(result.tables).toEqual({cache_bootstrap: 0, node: 150, variable: 2})
    const db = await readSiteDatabase(result.site)
    expect(db).toMatchObject({engine: 'postgres', driver: 'pgsql', database: result.database, username: result.user})
    // the new role owns the database and reads it with the password settings.php holds
    const asSite = spawnSync('psql', ['-h', '127.0.0.1', '-U', db.username, '-X', '-tA', '-d', db.database], {
      input: 'SELECT title FROM node WHERE nid = 1',
      encoding: 'utf8',
      env: {...process.env, PGPASSWORD: db.password},
    })
    expect(asSite.stdout.trim()).toBe('Node 1 🚀 café')
    expect(readFileSync(join(result.site, 'files/a.txt'), 'utf8')).toBe('a file')
    expect(argvs.some((a) => a.includes('psql'))).toBe(true)
    for (const a of argvs) expect(a).not.toContain(db.password)
    // the source site and its database are untouched
    expect(psql('SELECT count(*) FROM node', t.database).trim()).toBe('150')
  })
})
