import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {type DryRunCase, type DryRunSetup, fixturePath, tempDir} from '@bkcli/testkit'
import {FIXTURE_BACKUP, freshPlatform, makeTestSite, type TestSite, uniqueDbName} from './helpers.js'

/**
 * A live MariaDB site on the fixture platform with the fixture backup in its location; the state is the whole
 * Aegir root (platforms, backups, the journal's place beside the site), the site's database and the database a
 * real run would create (absent before and after).
 */
function site(argv: (t: TestSite, dbName: string) => string[], prepare?: (t: TestSite) => void): DryRunSetup {
  const t = makeTestSite()
  mkdirSync(t.location, {recursive: true, mode: 0o700})
  copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), join(t.location, FIXTURE_BACKUP))
  prepare?.(t)
  const dbName = uniqueDbName()
  return {
    argv: [...argv(t, dbName), '--location', t.location],
    state: {paths: [t.root], mysql: [t.database, dbName]},
    cleanup: async () => t.drop(),
  }
}

/** A platform without example.com (another site beside), the fixture backup in the location: what deploy starts from. */
function deployCase(): DryRunSetup {
  const p = freshPlatform()
  mkdirSync(p.location, {recursive: true, mode: 0o700})
  copyFileSync(fixturePath('aegir', 'backups', FIXTURE_BACKUP), join(p.location, FIXTURE_BACKUP))
  const dbName = uniqueDbName()
  return {
    argv: ['aegir', 'deploy', FIXTURE_BACKUP, p.platform, '--location', p.location, '--db-name', dbName],
    state: {paths: [p.root], mysql: [dbName]},
  }
}

export const cases: DryRunCase[] = [
  {command: 'aegir:deploy', setup: async () => deployCase()},
  {
    command: 'aegir:backup-delete',
    setup: async () =>
      site(
        () => ['aegir', 'backup-delete', 'example.com-20261122.010203.tar.gz'],
        (t) => {
          writeFileSync(join(t.location, 'example.com-20261122.010203.tar.gz'), 'x')
          writeFileSync(join(t.location, 'example.com-20261122.010203.tar.gz.bk.json'), '{}')
        },
      ),
  },
  {command: 'aegir:backup', setup: async () => site((t) => ['aegir', 'backup', t.site, '--keep', '1'])},
  {
    command: 'aegir:restore',
    setup: async () => site((t, db) => ['aegir', 'restore', t.site, FIXTURE_BACKUP, '--db-name', db]),
  },
  {
    command: 'aegir:clone',
    setup: async () => site((t, db) => ['aegir', 'clone', t.site, 'clone.example.org', '--db-name', db]),
  },
  {
    command: 'aegir:migrate',
    setup: async () =>
      site(
        (t, db) => ['aegir', 'migrate', t.site, join(t.root, 'platforms', 'drupal-7.2'), '--db-name', db],
        (t) => mkdirSync(join(t.root, 'platforms', 'drupal-7.2', 'sites', 'all'), {recursive: true}),
      ),
  },
  {
    command: 'aegir:prune',
    setup: async () =>
      site(
        (t) => ['aegir', 'prune', t.site, '--keep', '1'],
        (t) => writeFileSync(join(t.location, 'example.com-20261122.010203.tar.gz'), 'x'),
      ),
  },
  {
    command: 'aegir:pull',
    setup: async () => {
      const remote = tempDir('bk-aegir-dry-remote-')
      const config = join(tempDir('bk-aegir-dry-rclone-'), 'rclone.conf')
      writeFileSync(config, '[offsite]\ntype = local\n')
      const s = site(() => ['aegir', 'pull', `offsite:${remote}`])
      return {...s, state: {...s.state, paths: [...(s.state.paths ?? []), remote]}, env: {RCLONE_CONFIG: config}}
    },
  },
]
