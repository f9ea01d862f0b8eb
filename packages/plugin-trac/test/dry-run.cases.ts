/**
 * plugin-trac's --dry-run cases for the central test (apps/bk/test/dry-run.test.ts): one per command that offers
 * the flag. Each makes real data (example environments, a backup location, a database name that must stay absent)
 * and names everything the command could touch.
 */
import {randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {type DryRunCase, followOnce, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {makeExampleEnvironment} from '../src/example.js'
import {tracFollowTarget} from '../src/follow.js'

async function twoEnvs(): Promise<{parent: string; env: string; other: string}> {
  const parent = tempDir('bk-trac-dry-')
  const env = join(parent, 'env')
  const other = join(parent, 'other')
  await makeExampleEnvironment(env, {tickets: 4, wikiPages: 1, attachments: 1})
  await makeExampleEnvironment(other, {tickets: 2, wikiPages: 1, attachments: 0})
  return {parent, env, other}
}

/** An example environment whose database is in WAL mode, and a follow location holding its first snapshot. */
async function followedEnv(): Promise<{parent: string; env: string; location: string}> {
  const {parent, env} = await twoEnvs()
  const db = new Database(join(env, 'db', 'trac.db'))
  db.pragma('journal_mode = WAL')
  db.close()
  const location = join(parent, 'follow')
  await followOnce(await tracFollowTarget(env), location)
  return {parent, env, location}
}

export const cases: DryRunCase[] = [
  {
    command: 'trac:follow',
    async setup() {
      const {parent, env, location} = await followedEnv()
      return {argv: ['trac', 'follow', env, '--location', location], state: {paths: [parent]}}
    },
  },
  {
    // retention planned: the older generation would be removed, and nothing is
    command: 'trac:follow',
    async setup() {
      const {parent, env, location} = await followedEnv()
      await followOnce(await tracFollowTarget(env), location)
      return {
        argv: ['trac', 'follow', env, '--location', location, '--keep-generations', '1'],
        state: {paths: [parent]},
      }
    },
  },
  {
    // a restore from a follow location (its own path through the command): the env's database is replaced
    command: 'trac:restore',
    async setup() {
      const {parent, env, location} = await followedEnv()
      return {argv: ['trac', 'restore', location, env, '--as-of', new Date().toISOString()], state: {paths: [parent]}}
    },
  },
  {
    command: 'trac:hotcopy',
    async setup() {
      const {parent, env} = await twoEnvs()
      return {argv: ['trac', 'hotcopy', env, join(parent, 'copy')], state: {paths: [parent]}}
    },
  },
  {
    command: 'trac:backup',
    async setup() {
      const {parent, env} = await twoEnvs()
      const location = join(parent, 'backups')
      mkdirSync(location)
      writeFileSync(join(location, 'env-2026-01-01_000000.tar.gz'), 'old backup')
      writeFileSync(join(location, 'env-2026-01-02_000000.tar.gz'), 'old backup')
      return {
        argv: ['trac', 'backup', env, '--location', location, '--keep', '1', '--copy-to', `offsite:${parent}/remote`],
        state: {paths: [parent]},
      }
    },
  },
  {
    command: 'trac:restore',
    async setup() {
      const {parent, env, other} = await twoEnvs()
      return {argv: ['trac', 'restore', other, env], state: {paths: [parent]}}
    },
  },
  {
    command: 'trac:convert',
    async setup() {
      const {parent, env} = await twoEnvs()
      const name = `bk_trac_dry_${process.pid}_${randomBytes(3).toString('hex')}`
      return {
        argv: ['trac', 'convert', env, join(parent, 'pg'), '--to', `postgres://root@127.0.0.1/${name}`],
        state: {paths: [parent], postgres: [name]},
      }
    },
  },
  {
    command: 'trac:prune',
    async setup() {
      const location = tempDir('bk-trac-dry-')
      for (const day of ['01', '02', '03']) writeFileSync(join(location, `env-2026-01-${day}_000000.tar.gz`), 'backup')
      return {argv: ['trac', 'prune', '--location', location, '--keep', '1'], state: {paths: [location]}}
    },
  },
  {
    command: 'trac:pull',
    async setup() {
      const {parent} = await twoEnvs()
      const remote = tempDir('bk-trac-dry-remote-')
      const config = join(tempDir('bk-trac-dry-rclone-'), 'rclone.conf')
      writeFileSync(config, '[offsite]\ntype = local\n')
      const location = join(parent, 'backups')
      return {
        argv: ['trac', 'pull', `offsite:${remote}`, '--location', location],
        state: {paths: [parent, remote]},
        env: {RCLONE_CONFIG: config},
      }
    },
  },
]
