import {execFileSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {afterEach, describe, expect, it} from 'vitest'
import {dbExists, FIXTURE_BACKUP, freshPlatform, mysqlRoot, uniqueDbName, userExists} from './helpers.js'

const created: string[] = []
afterEach(() => {
  for (const name of created.splice(0)) mysqlRoot(`DROP DATABASE IF EXISTS \`${name}\`; DROP USER IF EXISTS '${name}'@'%';`)
})
const env = {BK_DB_ADMIN_PASSWORD: ''}

describe('scratch', () => {
  it('dry-run with a missing db server', async () => {
    const p = freshPlatform()
    const before = readdirSync(join(p.platform, 'sites')).sort()
    const r = await runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.platform, '--db-admin-url', 'mysql://root@127.0.0.1:1/', '--dry-run'], {env})
    console.log('DRYRUN', r.exitCode, r.stdout, r.stderr)
    expect(readdirSync(join(p.platform, 'sites')).sort()).toEqual(before)
  })
  it('platform is a file / symlink; uri with ..', async () => {
    const p = freshPlatform()
    const f = join(tempDir(), 'file'); writeFileSync(f, 'x')
    let r = await runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), f, '--yes'], {env})
    console.log('FILE', r.exitCode, r.stderr)
    r = await runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.platform, '--uri', '../../x', '--yes'], {env})
    console.log('DOTDOT', r.exitCode, r.stderr)
    r = await runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.platform, '--uri', 'all', '--yes'], {env})
    console.log('ALL', r.exitCode, r.stderr)
    r = await runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.platform, '--uri', 'default', '--yes'], {env})
    console.log('DEFAULT', r.exitCode, r.stderr)
    created.push(...[] as string[])
  })
  it('concurrent deploys via a symlinked platform; json secrets', async () => {
    const p = freshPlatform()
    const link = join(tempDir(), 'plat'); symlinkSync(p.platform, link)
    const a = uniqueDbName(), b = uniqueDbName(); created.push(a, b)
    const [r1, r2] = await Promise.all([
      runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), p.platform, '--db-name', a, '--yes', '--json'], {env}),
      runBk(['aegir', 'deploy', fixturePath('aegir', 'backups', FIXTURE_BACKUP), link, '--db-name', b, '--yes', '--json'], {env}),
    ])
    console.log('C1', r1.exitCode, r1.stdout.slice(0, 3000), r1.stderr)
    console.log('C2', r2.exitCode, r2.stdout.slice(0, 3000), r2.stderr)
    console.log('DBS', dbExists(a), dbExists(b), userExists(a), userExists(b))
    const settings = readFileSync(join(p.platform, 'sites/example.com/settings.php'), 'utf8')
    const pw = /'password' => '([^']*)'/.exec(settings)?.[1] ?? /password[^\n]*/.exec(settings)?.[0]
    console.log('PW', pw, 'in json:', pw ? (r1.stdout + r2.stdout + r1.stderr + r2.stderr).includes(pw) : '?')
  })
})
