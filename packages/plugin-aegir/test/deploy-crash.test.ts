/**
 * bk aegir deploy killed (SIGKILL via BK_CRASH_AT) at every database step, rename and commit step: the platform never
 * holds a half site (no example.com, or the whole deployed one), and the next deploy recovers: it drops the database
 * and user the killed run created and deploys again, or, when the killed run had committed, finishes it and
 * reports the site it put in place. Nothing is left: no stage, journal, orphan database or user.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {
  dbExists,
  FIXTURE_BACKUP,
  fixtureCounts,
  freshPlatform,
  mysqlRoot,
  startBk,
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

const POINTS = [
  'aegir:db-created',
  'aegir:db-loaded',
  'aegir:staged',
  'aegir:committing',
  'commit:journal',
  'commit:part',
  'commit:drop-previous',
  'aegir:committed',
]

/** The backup's files as deploy puts them (settings aside: new credentials). */
function backupTree(): Record<string, string> {
  const dir = tempDir()
  execFileSync('tar', ['-xzpf', fixturePath('aegir', 'backups', FIXTURE_BACKUP), '-C', dir])
  return treeState(dir, ['database.sql', 'settings.php', 'drushrc.php'])
}

describe('bk aegir deploy killed at every step', () => {
  for (const point of POINTS) {
    it(`crash at ${point}: no half site; the next deploy undoes or finishes it`, async () => {
      const p = freshPlatform()
      const site = join(p.platform, 'sites/example.com')
      const sites = join(p.platform, 'sites')
      const first = uniqueDbName()
      const second = uniqueDbName()
      created.push(first, second)
      const argv = (db: string) => [
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
      ]
      const crashed = await runBk(argv(first), {env: {...env, BK_CRASH_AT: point}})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
      // the platform: no example.com, or all of it
      if (existsSync(site)) expect(treeState(site, ['settings.php', 'drushrc.php'])).toEqual(backupTree())
      const committed = existsSync(site) || point === 'commit:journal'

      const next = await runBk(argv(second), {env})
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/warning: (rolled back|finished) 'bk aegir deploy' \(pid \d+/)
      const out = next.json<{database: string; finishedByRecovery: boolean}>()
      // the killed run's database is kept only when its site was committed, and then it is the one in use
      const used = committed ? first : second
      const dropped = committed ? second : first
      expect(out).toMatchObject({database: used, finishedByRecovery: committed})
      expect(readFileSync(join(site, 'settings.php'), 'utf8')).toContain(`'database' => "${used}"`)
      expect(tableCounts(used)).toEqual(fixtureCounts())
      expect(treeState(site, ['settings.php', 'drushrc.php'])).toEqual(backupTree())
      expect(dbExists(dropped)).toBe(false)
      expect(userExists(dropped)).toBe(false)
      expect(readdirSync(sites).sort()).toEqual(['all', 'example.com', 'sibling.example.org'])
    })
  }
})

describe('bk aegir deploy interrupted', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while importing: no site, no stage; the next deploy drops the half-made database and succeeds`, async () => {
      const p = freshPlatform()
      const sites = join(p.platform, 'sites')
      const first = uniqueDbName()
      const second = uniqueDbName()
      created.push(first, second)
      const argv = (db: string) => [
        'aegir',
        'deploy',
        fixturePath('aegir', 'backups', FIXTURE_BACKUP),
        p.platform,
        '--location',
        p.location,
        '--db-name',
        db,
        '--yes',
      ]
      const locks = tempDir('bk-deploy-locks-')
      const run = startBk(argv(first), /- importing the database/, locks)
      await run.started
      run.child.kill(signal)
      const end = await run.exited
      expect(end.code ?? end.signal).not.toBe(0)
      expect(existsSync(join(sites, 'example.com'))).toBe(false)
      expect(readdirSync(sites).filter((n) => n.includes('bk-stage'))).toEqual([])

      const next = await runBk(argv(second), {env: {...env, BK_LOCK_DIR: locks}})
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/rolled back 'bk aegir deploy'/)
      expect(dbExists(first)).toBe(false)
      expect(userExists(first)).toBe(false)
      expect(tableCounts(second)).toEqual(fixtureCounts())
      expect(readdirSync(sites).sort()).toEqual(['all', 'example.com', 'sibling.example.org'])
    })
  }
})
