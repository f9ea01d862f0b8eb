/**
 * `bk roundup … --dry-run` changes nothing: one case per command that offers the flag, run by the central test
 * (apps/bk/test/dry-run.test.ts), which fingerprints each case's state before and after.
 */
import {rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {type DryRunCase, followOnce, tempDir} from '@bkcli/testkit'
import {backupTracker} from '../src/backup.js'
import {roundupFollowTarget} from '../src/follow.js'
import {dropPgDb, fixtureTree, uniqueName} from './helpers.js'

async function sqliteBackup(): Promise<{home: string; archive: string; location: string}> {
  const home = fixtureTree('sqlite-home')
  const location = join(tempDir(), 'backups')
  const {archive} = await backupTracker(home, {location})
  return {home, archive, location}
}

/** The fixture tracker (SQLite, WAL mode) and a follow location holding its first snapshot. */
async function followedHome(): Promise<{home: string; location: string}> {
  const home = fixtureTree('sqlite-home')
  const location = join(tempDir(), 'follow')
  await followOnce(await roundupFollowTarget(home), location)
  return {home, location}
}

export const cases: DryRunCase[] = [
  {
    command: 'roundup:follow',
    async setup() {
      const {home, location} = await followedHome()
      return {argv: ['roundup', 'follow', home, '--location', location], state: {paths: [dirname(home), location]}}
    },
  },
  {
    // a restore from a follow location: the tracker's db/db and db/files are replaced
    command: 'roundup:restore',
    async setup() {
      const {home, location} = await followedHome()
      return {argv: ['roundup', 'restore', location, home], state: {paths: [dirname(home), location]}}
    },
  },
  {
    command: 'roundup:backup',
    async setup() {
      const {home, location} = await sqliteBackup()
      return {
        argv: ['roundup', 'backup', home, '--location', location, '--keep', '1'],
        state: {paths: [dirname(home), location]},
      }
    },
  },
  {
    command: 'roundup:restore',
    async setup() {
      const {archive} = await sqliteBackup()
      const target = fixtureTree('sqlite-home') // an existing home: replaced (and kept) by a real run
      return {argv: ['roundup', 'restore', archive, target], state: {paths: [dirname(target), archive]}}
    },
  },
  {
    command: 'roundup:export',
    async setup() {
      const home = fixtureTree('sqlite-home')
      const out = tempDir()
      return {argv: ['roundup', 'export', home, join(out, 'export')], state: {paths: [dirname(home), out]}}
    },
  },
  {
    command: 'roundup:import',
    async setup() {
      const home = fixtureTree('sqlite-home')
      rmSync(join(home, 'db'), {recursive: true})
      const dump = fixtureTree('export')
      return {argv: ['roundup', 'import', home, dump], state: {paths: [dirname(home), dump]}}
    },
  },
  {
    command: 'roundup:exporttables',
    async setup() {
      const home = fixtureTree('sqlite-home')
      const out = tempDir()
      return {argv: ['roundup', 'exporttables', home, join(out, 'tables')], state: {paths: [dirname(home), out]}}
    },
  },
  {
    command: 'roundup:importtables',
    async setup() {
      const home = fixtureTree('sqlite-home')
      rmSync(join(home, 'db'), {recursive: true})
      const dump = fixtureTree('exporttables')
      return {argv: ['roundup', 'importtables', home, dump], state: {paths: [dirname(home), dump]}}
    },
  },
  {
    command: 'roundup:migrate-backend',
    async setup() {
      const home = fixtureTree('sqlite-home')
      const db = uniqueName()
      return {
        argv: ['roundup', 'migrate-backend', home, '--to', 'postgresql', '--url', `postgresql://root@127.0.0.1/${db}`],
        state: {paths: [dirname(home)], postgres: [db]},
        cleanup: async () => dropPgDb(db),
      }
    },
  },
  {
    command: 'roundup:move',
    async setup() {
      const home = fixtureTree('sqlite-home')
      return {argv: ['roundup', 'move', home, join(dirname(home), 'moved')], state: {paths: [dirname(home)]}}
    },
  },
  {
    command: 'roundup:prune',
    async setup() {
      const {home, location} = await sqliteBackup()
      await backupTracker(home, {location})
      return {argv: ['roundup', 'prune', '--location', location, '--keep', '1'], state: {paths: [location]}}
    },
  },
  {
    command: 'roundup:pull',
    async setup() {
      const {location} = await sqliteBackup()
      const remote = tempDir('bk-ru-dry-remote-')
      const config = join(tempDir('bk-ru-dry-rclone-'), 'rclone.conf')
      writeFileSync(config, '[offsite]\ntype = local\n')
      return {
        argv: ['roundup', 'pull', `offsite:${remote}`, '--location', location],
        state: {paths: [location, remote]},
        env: {RCLONE_CONFIG: config},
      }
    },
  },
]
