import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {readdirSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {extractFixture, fixturePath, repoRoot, tempDir} from '@bkcli/testkit'

export const FIXTURE_BACKUP = 'example.com-20261121.222734.tar.gz'
export const FIXTURE_PASSWORD = 'Xk3vP9qLm2'

/** Runs SQL as the MariaDB root user through the mysql client (independent of bk's code). */
export function mysqlRoot(sql: string, database?: string): string {
  const args = ['-uroot', '-h127.0.0.1', '-P3306', '--default-character-set=utf8mb4', '--batch', '--skip-column-names']
  if (database) args.push(database)
  const r = spawnSync('mysql', args, {input: sql, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`mysql failed: ${r.stderr}`)
  return r.stdout
}

/** Fails loudly when the MariaDB server is missing (tests never skip silently). */
export function requireMariadb(): void {
  try {
    mysqlRoot('SELECT 1')
  } catch (error) {
    throw new Error(`MariaDB at 127.0.0.1:3306 is required for these tests: ${(error as Error).message}`)
  }
}

let dbSeq = 0
/**
 * A name for a database a restore, clone or migrate creates (--db-name): unique per test process, so that test
 * files running at once never race for the uri-derived names (examplecom, examplecom_0 …).
 */
export function uniqueDbName(): string {
  dbSeq++
  return `bkn${process.pid}_${dbSeq}_${randomBytes(2).toString('hex')}`
}

/** Every database of this process's uniqueDbName() calls (what a test may check did not appear). */
export function processDatabases(): string[] {
  return mysqlRoot('SHOW DATABASES')
    .trim()
    .split('\n')
    .filter((name) => name.startsWith(`bkn${process.pid}_`))
    .sort()
}

export interface TestSite {
  root: string
  platform: string
  site: string
  database: string
  user: string
  password: string
  location: string
  drop(): void
}

/**
 * The fixture platform extracted to a temp dir, its database loaded from the fixture backup's database.sql into a
 * uniquely named MariaDB database with its own user and password, and settings.php/drushrc.php pointed at it.
 */
export function makeTestSite(): TestSite {
  requireMariadb()
  const tag = randomBytes(4).toString('hex')
  const database = `bkt_${tag}_db`
  const user = `bkt_${tag}`
  const password = `Pw_${randomBytes(6).toString('hex')}`
  const root = extractFixture('aegir', 'platforms')
  const platform = join(root, 'platforms/drupal-7')
  const site = join(platform, 'sites/example.com')
  const dumpDir = tempDir()
  execFileSync('tar', ['-xzf', fixturePath('aegir', 'backups', FIXTURE_BACKUP), '-C', dumpDir, './database.sql'])
  mysqlRoot(
    `CREATE DATABASE \`${database}\`; CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON \`${database}\`.* TO '${user}'@'%';`,
  )
  mysqlRoot(readFileSync(join(dumpDir, 'database.sql'), 'utf8'), database)
  for (const name of ['settings.php', 'drushrc.php']) {
    const file = join(site, name)
    const text = readFileSync(file, 'utf8')
      .replaceAll('site_examplecom', database)
      .replaceAll('examplecom', user)
      .replaceAll(FIXTURE_PASSWORD, password)
    writeFileSync(file, text)
  }
  const location = join(root, 'backups')
  return {
    root,
    platform,
    site,
    database,
    user,
    password,
    location,
    drop() {
      dropDatabases(database)
      mysqlRoot(`DROP USER IF EXISTS '${user}'@'%';`)
    },
  }
}

export function dropDatabases(...names: string[]): void {
  mysqlRoot(names.map((n) => `DROP DATABASE IF EXISTS \`${n}\`;`).join(' '))
}

/** Row counts per table, as counts.tsv lists them. */
export function fixtureCounts(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of readFileSync(fixturePath('aegir', 'counts.tsv'), 'utf8').trim().split('\n')) {
    const [table, count] = line.split('\t')
    out[table!] = Number(count)
  }
  return out
}

export function tableCounts(database: string): Record<string, number> {
  const tables = mysqlRoot('SHOW TABLES', database).trim().split('\n').filter(Boolean)
  const out: Record<string, number> = {}
  for (const t of tables) out[t] = Number(mysqlRoot(`SELECT COUNT(*) FROM \`${t}\``, database).trim())
  return out
}

/** `tar tv`-like listing of a tarball: "mode type name size" per member, via GNU tar. */
export function tarListing(file: string): string[] {
  return execFileSync('tar', ['-tvzf', file, '--numeric-owner'], {encoding: 'utf8'})
    .trim()
    .split('\n')
    .map((line) => {
      const parts = line.split(/\s+/)
      return `${parts[0]} ${parts[2]} ${parts.slice(5).join(' ')}`
    })
}

export const isRoot = process.getuid?.() === 0
/** The owner of the other site on freshPlatform()'s platform, and its web group. */
export const SIBLING = {uid: 1234, gid: 1235, webGroup: 33}

/**
 * A fresh server's platform: the fixture platform whose example.com is gone; another site (the fixture's folder
 * renamed) is there, owned by the Aegir user 1234:1235 with its files in the web group 33.
 */
export function freshPlatform(): {root: string; platform: string; sibling: string; location: string} {
  requireMariadb()
  const root = extractFixture('aegir', 'platforms')
  const platform = join(root, 'platforms/drupal-7')
  const sibling = join(platform, 'sites/sibling.example.org')
  renameSync(join(platform, 'sites/example.com'), sibling)
  if (isRoot) {
    execFileSync('chown', ['-R', `${SIBLING.uid}:${SIBLING.gid}`, sibling])
    execFileSync('chgrp', ['-R', String(SIBLING.webGroup), join(sibling, 'files')])
  }
  const location = join(root, 'backups')
  return {root, platform, sibling, location}
}

/** mode, size and sha256 of every path under a folder. */
export function treeState(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  const visit = (abs: string) => {
    const rel = relative(dir, abs) || '.'
    if (skip.includes(rel)) return
    const st = statSync(abs)
    const mode = (st.mode & 0o7777).toString(8)
    if (st.isDirectory()) {
      out[rel] = `d ${mode}`
      for (const name of readdirSync(abs)) visit(join(abs, name))
    } else out[rel] = `f ${mode} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`
  }
  visit(dir)
  return out
}

export function dbExists(name: string): boolean {
  return mysqlRoot(`SHOW DATABASES LIKE '${name}'`).trim() === name
}

export function userExists(name: string): boolean {
  return mysqlRoot(`SELECT COUNT(*) FROM mysql.user WHERE User = '${name}'`).trim() !== '0'
}

/**
 * bk started in the background (the admin password empty, locks in `locks`): `started` resolves once its output
 * matches `ready` (a step being reached), `exited` when it ends — for signals sent at a given step.
 */
export function startBk(argv: string[], ready: RegExp, locks: string) {
  const child = spawn(process.execPath, [join(repoRoot(), 'apps/bk/bin/run.js'), ...argv], {
    env: {
      ...process.env,
      BK_DB_ADMIN_PASSWORD: '',
      NO_COLOR: '1',
      BK_LOCK_DIR: locks,
      BK_DATA_DIR: join(repoRoot(), '.bk-dev'),
      BK_CONFIG_DIR: tempDir('bk-config-'),
      BK_CACHE_DIR: tempDir('bk-cache-'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise<{code: number | null; signal: string | null; out: string}>((resolve) =>
    child.on('exit', (code, signal) => resolve({code, signal, out})),
  )
  const started = new Promise<void>((resolve, reject) => {
    const check = (chunk: Buffer) => {
      out += chunk.toString()
      if (ready.test(out)) resolve()
    }
    child.stdout.on('data', check)
    child.stderr.on('data', check)
    child.on('exit', () => reject(new Error(`bk exited before ${ready}: ${out}`)))
  })
  return {child, started, exited}
}
