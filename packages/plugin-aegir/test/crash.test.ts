/**
 * Crash-safe by proof (issue 11): bk aegir backup and restore killed (SIGKILL via BK_CRASH_AT) at every rename,
 * unlink and database step, interrupted by SIGINT/SIGTERM, and run twice at once. After each, the site is the old
 * state or the new one, the next bk aegir command on the site says what it undid or finished, and nothing is left:
 * no maintenance mode, no orphan database or user, no dump in the site, no stage, partial or orphan sidecar.
 */
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {basename, join, relative} from 'node:path'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {
  dropDatabases,
  FIXTURE_BACKUP,
  fixtureCounts,
  makeTestSite,
  mysqlRoot,
  startBk as startBkAt,
  type TestSite,
  tableCounts,
  uniqueDbName,
} from './helpers.js'

let sites: TestSite[] = []
const created: string[] = []
afterEach(() => {
  for (const s of sites) s.drop()
  sites = []
  for (const name of created.splice(0)) {
    dropDatabases(name)
    mysqlRoot(`DROP USER IF EXISTS '${name}'@'%'`)
  }
})

const env = {BK_DB_ADMIN_PASSWORD: ''}

/** Path → type, mode and content hash under a folder: the site's state (directory mtimes aside). */
function tree(dir: string, skip: string[] = []): Record<string, string> {
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

function exists(db: string): boolean {
  return mysqlRoot(`SHOW DATABASES LIKE '${db}'`).trim() === db
}
function userExists(user: string): boolean {
  return mysqlRoot(`SELECT COUNT(*) FROM mysql.user WHERE User = '${user}'`).trim() !== '0'
}
function maintenance(db: string): string {
  return mysqlRoot("SELECT value FROM variable WHERE name = 'maintenance_mode'", db).trim()
}

/** Nothing of bk's work is left beside the site or in the location; every sidecar has its tarball. */
function expectNoLeftovers(t: TestSite): void {
  expect(readdirSync(join(t.platform, 'sites')).sort()).toEqual(['all', 'example.com'])
  expect(existsSync(join(t.site, 'database.sql'))).toBe(false)
  const names = readdirSync(t.location)
  expect(names.filter((n) => n.startsWith('.'))).toEqual([])
  for (const n of names.filter((n) => n.endsWith('.bk.json'))) expect(names).toContain(n.slice(0, -'.bk.json'.length))
  // a tarball without a sidecar is provision's (the fixture), never a half-published bk backup
  for (const n of names.filter((n) => n.endsWith('.tar.gz') && n !== FIXTURE_BACKUP))
    expect(names).toContain(`${n}.bk.json`)
}

function setup(): {t: TestSite; before: Record<string, string>; newTree: Record<string, string>} {
  const t = makeTestSite()
  sites.push(t)
  mkdirSync(t.location, {recursive: true, mode: 0o700})
  copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), join(t.location, FIXTURE_BACKUP))
  mysqlRoot("UPDATE node SET title = 'changed after the backup' WHERE nid = 1", t.database)
  const unpacked = tempDir()
  execFileSync('tar', ['-xzpf', join(t.location, FIXTURE_BACKUP), '-C', unpacked])
  return {t, before: tree(t.site), newTree: tree(unpacked, ['database.sql', 'settings.php', 'drushrc.php'])}
}

const RESTORE_POINTS = [
  'aegir:maintenance-on',
  // the pre-restore backup's own points: two here, all of them in the backup matrix below
  'aegir:backup-dumped',
  'aegir:backup-linked',
  'aegir:pre-restore-backup',
  'aegir:db-created',
  'aegir:db-loaded',
  'aegir:staged',
  'aegir:committing',
  'commit:journal',
  'commit:aside',
  'commit:part',
  'commit:drop-previous',
  'aegir:committed',
  'aegir:retired',
]

describe('bk aegir restore killed at every step', () => {
  for (const point of RESTORE_POINTS) {
    it(`crash at ${point}: old or new site, the next command recovers, nothing left`, async () => {
      const {t, before, newTree} = setup()
      const db = uniqueDbName()
      created.push(db)
      const argv = ['aegir', 'restore', t.site, FIXTURE_BACKUP, '--location', t.location, '--db-name', db, '--yes']
      const crashed = await runBk(argv, {env: {...env, BK_CRASH_AT: point}})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')

      // any aegir command on the site recovers first, and says so
      const next = await runBk(['aegir', 'backup', t.site, '--location', t.location], {env})
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/warning: (rolled back|finished) 'bk aegir restore' \(pid \d+/)

      const committed = readFileSync(join(t.site, 'settings.php'), 'utf8').includes(db)
      if (committed) {
        expect(tree(t.site, ['settings.php', 'drushrc.php'])).toEqual(newTree)
        expect(tableCounts(db)).toEqual(fixtureCounts())
        expect(maintenance(db)).toBe('i:0;')
        expect(exists(t.database)).toBe(false)
      } else {
        expect(tree(t.site)).toEqual(before)
        expect(mysqlRoot('SELECT title FROM node WHERE nid = 1', t.database).trim()).toBe('changed after the backup')
        expect(maintenance(t.database)).toBe('i:0;')
        expect(exists(db)).toBe(false)
        expect(userExists(db)).toBe(false)
      }
      expectNoLeftovers(t)
    })
  }

  it('a rerun after a killed restore succeeds and leaves the site out of maintenance (regression)', async () => {
    const {t} = setup()
    const first = uniqueDbName()
    const second = uniqueDbName()
    created.push(first, second)
    const argv = (db: string) => ['aegir', 'restore', t.site, FIXTURE_BACKUP, '--location', t.location, '--db-name', db]
    const crashed = await runBk([...argv(first), '--yes'], {env: {...env, BK_CRASH_AT: 'aegir:db-loaded'}})
    expect(crashed.signal).toBe('SIGKILL')
    expect(maintenance(t.database)).toBe('i:1;')
    const rerun = await runBk([...argv(second), '--yes', '--json'], {env})
    expect(rerun.exitCode, rerun.stderr).toBe(0)
    expect(rerun.stderr).toMatch(/rolled back 'bk aegir restore'.*maintenance mode of \S+ set back to i:0;/)
    expect(rerun.json<{database: {new: string}}>().database.new).toBe(second)
    expect(maintenance(second)).toBe('i:0;')
    expect(exists(first)).toBe(false)
    expect(userExists(first)).toBe(false)
    expectNoLeftovers(t)
  })
})

const BACKUP_POINTS = [
  'aegir:backup-dumped',
  'aegir:backup-archived',
  'aegir:backup-dump-removed',
  'aegir:backup-sidecar',
  'aegir:backup-linked',
]

describe('bk aegir backup killed at every step', () => {
  for (const point of BACKUP_POINTS) {
    it(`crash at ${point}: list shows only complete backups, the previous one is kept, the next backup works`, async () => {
      const {t, before} = setup()
      const good = await runBk(['aegir', 'backup', t.site, '--location', t.location, '--json'], {env})
      const previous = good.json<{file: string}>().file
      const crashed = await runBk(['aegir', 'backup', t.site, '--location', t.location], {
        env: {...env, BK_CRASH_AT: point},
      })
      expect(crashed.signal).toBe('SIGKILL')
      const list = await runBk(['aegir', 'list', t.site, '--location', t.location, '--json'], {env})
      const listed = list.json<{artifacts: {path: string}[]}>().artifacts.map((a) => a.path)
      expect(listed).toContain(previous)
      // whatever else is listed is the killed run's backup, complete (published after its sidecar)
      for (const path of listed.filter((p) => p !== previous && !p.endsWith(FIXTURE_BACKUP))) {
        const verify = await runBk(['aegir', 'verify', path], {env})
        expect(verify.exitCode, `${path}: ${verify.stdout}`).toBe(0)
      }
      const next = await runBk(['aegir', 'backup', t.site, '--location', t.location], {env})
      expect(next.exitCode, next.stderr).toBe(0)
      if (
        point !== 'aegir:backup-linked' &&
        point !== 'aegir:backup-sidecar' &&
        point !== 'aegir:backup-dump-removed'
      ) {
        expect(next.stderr).toMatch(/rolled back 'bk aegir backup'.*removed the dump/)
      }
      expect(tree(t.site)).toEqual(before)
      expect(existsSync(previous)).toBe(true)
      expectNoLeftovers(t)
    })
  }
})

/** Starts bk, resolves when its output matches `ready` (the process keeps running). */
const lockDir = tempDir('bk-crash-locks-')
const startBk = (argv: string[], ready: RegExp, locks = lockDir) => startBkAt(argv, ready, locks)

describe('bk aegir restore interrupted or run twice', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while importing: the next command rolls back, the site is as before and online`, async () => {
      const {t, before} = setup()
      const db = uniqueDbName()
      created.push(db)
      const argv = ['aegir', 'restore', t.site, FIXTURE_BACKUP, '--location', t.location, '--db-name', db, '--yes']
      const run = startBk(argv, /- importing the database/)
      await run.started
      run.child.kill(signal)
      const end = await run.exited
      expect(end.code ?? end.signal).not.toBe(0)
      const next = await runBk(['aegir', 'backup', t.site, '--location', t.location], {
        env: {...env, BK_LOCK_DIR: lockDir},
      })
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/rolled back 'bk aegir restore'/)
      expect(tree(t.site)).toEqual(before)
      expect(maintenance(t.database)).toBe('i:0;')
      expect(exists(db)).toBe(false)
      expectNoLeftovers(t)
    })
  }

  it('a second restore of the same site is refused, naming the first and its pid', async () => {
    const {t} = setup()
    const db = uniqueDbName()
    created.push(db)
    const argv = ['aegir', 'restore', t.site, FIXTURE_BACKUP, '--location', t.location, '--yes']
    // the first holds the site's lock while its pre-command sleeps
    const locks = tempDir('bk-crash-locks-')
    const first = startBk([...argv, '--db-name', db, '--pre-command', 'sleep 10'], /^$/, locks)
    first.started.catch(() => {})
    while (readdirSync(locks).length === 0) await new Promise((r) => setTimeout(r, 50))
    const second = await runBk([...argv, '--db-name', uniqueDbName()], {env: {...env, BK_LOCK_DIR: locks}})
    expect(second.exitCode, `${second.stdout}\n${second.stderr}`).not.toBe(0)
    // refused by the lock, or (when the first is already past its pre-command) by its journal: both name it
    const pid = first.child.pid
    expect(second.stderr).toMatch(
      new RegExp(`locked by pid ${pid} .*bk aegir restore|'bk aegir restore' \\(pid ${pid}\\)`),
    )
    const end = await first.exited
    expect(end.code, end.out).toBe(0)
    expect(maintenance(db)).toBe('i:0;')
    expectNoLeftovers(t)
  })
})

describe('bk aegir backup on a full file system', () => {
  it('fails with one line naming the problem, keeps the previous backup, leaves nothing', async () => {
    const {t, before} = setup()
    const mnt = tempDir('bk-tmpfs-')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], {stdio: 'ignore'})
    } catch {
      console.log('skipped: mounting a tmpfs is not permitted here')
      return
    }
    try {
      const location = join(mnt, 'backups')
      const first = await runBk(['aegir', 'backup', t.site, '--location', location, '--json'], {env})
      expect(first.exitCode, first.stderr).toBe(0)
      const kept = first.json<{file: string}>().file
      const filler = join(mnt, 'filler')
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], {stdio: 'ignore'})
      } catch {
        // dd stops at ENOSPC
      }
      execFileSync('truncate', ['-s', `-${48 * 1024}`, filler])
      const full = await runBk(['aegir', 'backup', t.site, '--location', location], {env})
      expect(full.exitCode).not.toBe(0)
      expect(full.stderr.trim().split('\n')).toHaveLength(1)
      expect(full.stderr).toMatch(/no space|ENOSPC|full/i)
      expect(readdirSync(location).sort()).toEqual([basename(kept), `${basename(kept)}.bk.json`])
      expect(tree(t.site)).toEqual(before)
      expect(readdirSync(join(t.platform, 'sites')).sort()).toEqual(['all', 'example.com'])
    } finally {
      execFileSync('umount', [mnt])
    }
  })
})

describe('bk aegir migrate and clone killed', () => {
  for (const point of ['aegir:db-loaded', 'aegir:committed']) {
    it(`migrate crash at ${point}: the next command on the site rolls back or finishes the move`, async () => {
      const {t, before} = setup()
      const platform = join(t.root, 'platforms', 'drupal-7.2')
      mkdirSync(join(platform, 'sites', 'all'), {recursive: true})
      const db = uniqueDbName()
      created.push(db)
      const argv = ['aegir', 'migrate', t.site, platform, '--location', t.location, '--db-name', db, '--yes']
      const crashed = await runBk(argv, {env: {...env, BK_CRASH_AT: point}})
      expect(crashed.signal).toBe('SIGKILL')
      const next = await runBk(['aegir', 'backup', t.site, '--location', t.location], {env})
      const moved = join(platform, 'sites', 'example.com')
      if (point === 'aegir:committed') {
        expect(next.exitCode).not.toBe(0)
        expect(next.stderr).toMatch(/finished 'bk aegir migrate'.*old database \S+ dropped.*now lives at/)
        expect(existsSync(t.site)).toBe(false)
        expect(exists(t.database)).toBe(false)
        expect(maintenance(db)).toBe('i:0;')
        expect(readFileSync(join(moved, 'settings.php'), 'utf8')).toContain(db)
        expect(readdirSync(join(t.platform, 'sites'))).toEqual(['all'])
      } else {
        expect(next.exitCode, next.stderr).toBe(0)
        expect(next.stderr).toMatch(/rolled back 'bk aegir migrate'/)
        expect(tree(t.site)).toEqual(before)
        expect(maintenance(t.database)).toBe('i:0;')
        expect(exists(db)).toBe(false)
        expect(userExists(db)).toBe(false)
        expect(readdirSync(join(platform, 'sites'))).toEqual(['all'])
        expectNoLeftovers(t)
      }
    })
  }

  it('clone crash at aegir:db-loaded: the next command on the source drops the half-made clone', async () => {
    const {t, before} = setup()
    const db = uniqueDbName()
    created.push(db)
    const argv = ['aegir', 'clone', t.site, 'clone.example.org', '--location', t.location, '--db-name', db, '--yes']
    const crashed = await runBk(argv, {env: {...env, BK_CRASH_AT: 'aegir:db-loaded'}})
    expect(crashed.signal).toBe('SIGKILL')
    const next = await runBk(['aegir', 'backup', t.site, '--location', t.location], {env})
    expect(next.exitCode, next.stderr).toBe(0)
    expect(next.stderr).toMatch(/rolled back 'bk aegir clone'.*dropped the database/)
    expect(tree(t.site)).toEqual(before)
    expect(exists(db)).toBe(false)
    expect(userExists(db)).toBe(false)
    expectNoLeftovers(t)
  })
})
