import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fakeDocker, fixtureStack, treeOf, without} from './helpers.js'

// `docker` here is the stand-in in test/bin (no Docker engine on the test machine): it records its calls.

const FIXTURE_ARCHIVES = ['backup_2026-11-21_2219.tar.gz', 'backup_6.tar.gz']

function newestArchive(dir: string): string {
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.tar.gz'))
    .sort()
  return join(dir, names.at(-1)!)
}

describe('bk iotstack restore', () => {
  for (const name of FIXTURE_ARCHIVES) {
    it(`restores IOTstack's ${name} into a fresh folder: files, owners, modes, symlink (no .env: said so)`, async () => {
      const expected = without(treeOf(fixtureStack()), '.env', 'post_restore.sh')
      const target = join(tempDir(), 'IOTstack')
      const result = await runBk(['iotstack', 'restore', fixturePath('iotstack', 'archives', name), target, '--yes'])
      expect(result.exitCode).toBe(0)
      expect(result.stderr).toContain('the archive holds no .env')
      const restored = treeOf(target)
      expect(restored).toEqual(expected)
      expect(restored['volumes/mariadb/db_backup/marker.txt']).toMatchObject({size: 20}) // the pre-backup hook's marker
      expect(restored['volumes/mosquitto/data/flows-link.json']).toMatchObject({type: 'symlink', uid: 1883, gid: 1883})
      // Its log, and nothing else, in backups/; no stage or journal left behind.
      expect(readdirSync(join(target, 'backups'))).toEqual(['logs'])
      expect(readdirSync(target).filter((n) => n.startsWith('.bk-'))).toEqual([])
    })
  }

  it('looks a bare name up under <stack>/backups/, as restore.sh does', async () => {
    const stack = fixtureStack()
    mkdirSync(join(stack, 'backups/backup'), {recursive: true})
    copyFileSync(
      fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz'),
      join(stack, 'backups/backup/backup_2026-11-21_2219.tar.gz'),
    )
    for (const ref of ['backup_2026-11-21_2219.tar.gz', 'backup/backup_2026-11-21_2219.tar.gz']) {
      const result = await runBk(['iotstack', 'restore', ref, '--yes'], {cwd: stack})
      expect(result.exitCode).toBe(0)
    }
    const missing = await runBk(['iotstack', 'restore', 'backup_nope.tar.gz', stack, '--yes'])
    expect(missing.exitCode).not.toBe(0)
    expect(missing.stderr).toMatch(/no archive 'backup_nope.tar.gz'/)
  })

  it('a bk archive of the stack restores to the identical tree, .env and post_restore.sh included', async () => {
    const stack = fixtureStack()
    const before = treeOf(stack)
    expect((await runBk(['iotstack', 'backup', stack, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const archive = newestArchive(join(stack, 'backups/backup'))
    const target = join(tempDir(), 'IOTstack')
    const result = await runBk(['iotstack', 'restore', archive, target, '--yes', '--json'])
    expect(result.exitCode).toBe(0)
    expect(result.json<{includesEnv: boolean; madeBy: string}>()).toMatchObject({includesEnv: true, madeBy: 'bk'})
    expect(without(treeOf(target), 'post_restore.ran')).toEqual(before)
    // post_restore.sh is in bk's archives, so IOTstack's dead hook now runs.
    expect(readFileSync(join(target, 'post_restore.ran'), 'utf8')).toBe('post_restore hook ran\n')
  })

  it('over a running stack: checks, brings it down, safety copy, swaps, post_restore.sh, --start; logs kept', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    mkdirSync(join(stack, 'backups/logs'), {recursive: true})
    writeFileSync(join(stack, 'backups/logs/backup_2020-01-01_0000.log'), 'old log\n')
    writeFileSync(join(stack, 'volumes/nodered/data/flows.json'), '[{"changed": true}]\n')
    writeFileSync(join(stack, 'compose-override.yml'), 'changed\n')
    writeFileSync(join(stack, 'extra-not-a-member.txt'), 'untouched\n')
    const before = treeOf(stack)
    const archive = fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz')
    const result = await runBk(['iotstack', 'restore', archive, stack, '--yes', '--start', '--json'], {env: docker.env})
    expect(result.stderr).not.toMatch(/bk: (?!warning)/)
    expect(result.exitCode).toBe(0)
    const json = result.json<{
      safetyArchive: string
      keptMembers: string[]
      stoppedStack: boolean
      started: boolean
      postRestoreHook: boolean
    }>()
    expect(json).toMatchObject({
      stoppedStack: true,
      started: true,
      postRestoreHook: true,
      keptMembers: ['post_restore.sh', '.env'],
    })
    expect(docker.sequence().filter((s) => s !== 'compose version')).toEqual([
      'compose ps -q',
      'compose down',
      'compose up -d',
    ])

    const after = treeOf(stack)
    expect(readFileSync(join(stack, 'volumes/nodered/data/flows.json'), 'utf8')).not.toContain('changed')
    expect(after['compose-override.yml']?.sha256).not.toBe(before['compose-override.yml']?.sha256)
    expect(after['.env']).toEqual(before['.env']) // the archive has none: kept
    expect(after['extra-not-a-member.txt']).toEqual(before['extra-not-a-member.txt'])
    expect(existsSync(join(stack, 'post_restore.ran'))).toBe(true)
    expect(readFileSync(join(stack, 'backups/logs/backup_2020-01-01_0000.log'), 'utf8')).toBe('old log\n')
    expect(readdirSync(join(stack, 'backups/logs')).some((n) => n.startsWith('restore_'))).toBe(true)

    // The safety copy holds the state before the restore, and restores it.
    expect(json.safetyArchive.startsWith(join(stack, 'backups/pre-restore/backup_'))).toBe(true)
    const back = await runBk(['iotstack', 'restore', json.safetyArchive, stack, '--yes'], {env: docker.env})
    expect(back.exitCode).toBe(0)
    expect(without(treeOf(stack), 'post_restore.ran')).toEqual(without(before, 'post_restore.ran'))
  })

  it('a failure after the stack was brought down (safety archive on a full disk): files unchanged, stack up', async () => {
    const stack = fixtureStack()
    const preRestore = join(stack, 'backups/pre-restore')
    mkdirSync(preRestore, {recursive: true})
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', preRestore], {stdio: 'ignore'})
    } catch {
      console.log('skipped: mounting a tmpfs is not permitted here')
      return
    }
    try {
      try {
        writeFileSync(join(preRestore, 'filler'), Buffer.alloc(64 * 1024))
      } catch {} // as full as it gets
      const docker = fakeDocker()
      docker.setUp(true)
      const before = treeOf(stack)
      const archive = fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz')
      const result = await runBk(['iotstack', 'restore', archive, stack, '--yes'], {env: docker.env})
      expect(result.exitCode).not.toBe(0)
      expect(result.stderr).toMatch(/^bk: .*(ENOSPC|no space)/im)
      expect(docker.sequence().slice(-2)).toEqual(['compose down', 'compose up -d'])
      expect(readFileSync(docker.state, 'utf8')).toBe('up')
      const unchanged = (tree: ReturnType<typeof treeOf>) =>
        Object.fromEntries(Object.entries(tree).filter(([k]) => !k.startsWith('backups/')))
      expect(unchanged(treeOf(stack))).toEqual(unchanged(before))
    } finally {
      execFileSync('umount', [preRestore])
    }
  })

  it('a corrupt or truncated archive changes nothing (and a stopped stack is not touched)', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    const before = treeOf(stack, [])
    const dir = tempDir()
    const truncated = join(dir, 'backup_2026-11-21_2219.tar.gz')
    copyFileSync(fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz'), truncated)
    truncateSync(truncated, 400_000)
    const corrupt = join(dir, 'backup_6.tar.gz')
    const data = readFileSync(fixturePath('iotstack', 'archives', 'backup_6.tar.gz'))
    data[600_000] = data[600_000]! ^ 0x55
    writeFileSync(corrupt, data)
    for (const file of [truncated, corrupt]) {
      const result = await runBk(['iotstack', 'restore', file, stack, '--yes'], {env: docker.env})
      expect(result.exitCode).not.toBe(0)
      expect(result.stderr).toMatch(/^bk: .*(corrupt|truncated)/m)
      expect(treeOf(stack, [])).toEqual(before)
    }
    expect(docker.sequence()).not.toContain('compose down')
  })

  it('backups/pre-restore that is a file: one line naming it, the stack and the file untouched, not brought down', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    mkdirSync(join(stack, 'backups'), {recursive: true})
    writeFileSync(join(stack, 'backups/pre-restore'), 'not a folder\n')
    const before = treeOf(stack, [])
    const archive = fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz')
    const result = await runBk(['iotstack', 'restore', archive, stack, '--yes'], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toContain(`${join(stack, 'backups/pre-restore')} is a file, not a folder of backups`)
    expect(treeOf(stack, [])).toEqual(before)
    expect(readFileSync(join(stack, 'backups/pre-restore'), 'utf8')).toBe('not a folder\n')
    expect(docker.sequence()).not.toContain('compose down')
  })

  it('a docker compose down that fails (maybe halfway) brings the stack back up; files unchanged', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker({BK_FAKE_DOCKER_FAIL: 'down'})
    docker.setUp(true)
    const before = treeOf(stack, [])
    const archive = fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz')
    const result = await runBk(['iotstack', 'restore', archive, stack, '--yes'], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('docker compose down failed (exit 17)')
    expect(docker.sequence().slice(-2)).toEqual(['compose down', 'compose up -d'])
    const files = (tree: Record<string, unknown>) => Object.entries(tree).filter(([k]) => !k.startsWith('backups'))
    expect(files(treeOf(stack, []))).toEqual(files(before))
  })

  it('refuses an archive with entries escaping the stack, and a tarball that is not a stack', async () => {
    const stack = fixtureStack()
    const before = treeOf(stack, [])
    const dir = tempDir()
    mkdirSync(join(dir, 'src/services'), {recursive: true})
    writeFileSync(join(dir, 'src/services/x'), 'x')
    const evil = join(dir, 'evil.tar.gz')
    execFileSync('tar', [
      '-czf',
      evil,
      '-C',
      join(dir, 'src'),
      'services',
      '--transform',
      's,^services/x,../../escape,',
    ])
    const r1 = await runBk(['iotstack', 'restore', evil, stack, '--yes'])
    expect(r1.exitCode).not.toBe(0)
    expect(r1.stderr).toMatch(/holds entries bk will not extract \(.*escape/)
    const other = join(dir, 'other.tar.gz')
    writeFileSync(join(dir, 'readme.txt'), 'hello')
    execFileSync('tar', ['-czf', other, '-C', dir, 'readme.txt'])
    const r2 = await runBk(['iotstack', 'restore', other, stack, '--yes'])
    expect(r2.exitCode).not.toBe(0)
    expect(r2.stderr).toContain('is not an IOTstack backup')
    expect(treeOf(stack, [])).toEqual(before)
  })

  it('without --yes and no terminal it refuses and changes nothing', async () => {
    const stack = fixtureStack()
    const before = treeOf(stack, [])
    const result = await runBk(['iotstack', 'restore', fixturePath('iotstack', 'archives', 'backup_6.tar.gz'), stack])
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/without --yes/)
    expect(treeOf(stack, [])).toEqual(before)
  })

  it('--restore-databases loads the dumps taken by --dump-databases back, through the stand-in', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    expect(
      (await runBk(['iotstack', 'backup', stack, '--dump-databases', '--type', 'dated', '-q'], {env: docker.env}))
        .exitCode,
    ).toBe(0)
    const archive = newestArchive(join(stack, 'backups/backup'))
    const dump = gunzipSync(readFileSync(join(stack, 'volumes/mariadb/db_backup/bk-dump-mariadb.sql.gz')))
    const target = join(tempDir(), 'IOTstack')
    const restoreDocker = fakeDocker()
    const result = await runBk(
      ['iotstack', 'restore', archive, target, '--yes', '--restore-databases', '--start', '--json'],
      {
        env: restoreDocker.env,
      },
    )
    expect(result.stderr).not.toMatch(/bk: (?!warning)/)
    expect(result.exitCode).toBe(0)
    expect(result.json<{databases: {service: string}[]}>().databases.map((d) => d.service)).toEqual([
      'influxdb',
      'mariadb',
    ])
    const loads = restoreDocker.calls().filter((c) => c.argv[1] === 'exec' && c.stdinBytes > 0)
    expect(loads.map((c) => c.argv[3])).toEqual(['influxdb', 'mariadb'])
    // The stream the client got is exactly the dump (gunzipped on the host).
    const maria = loads[1]!
    expect(maria.stdinBytes).toBe(dump.length)
    expect(maria.stdinSha256).toBe(createHash('sha256').update(dump).digest('hex'))
    expect(restoreDocker.sequence()).toContain('compose up -d mariadb')
    expect(restoreDocker.sequence().at(-1)).toBe('compose up -d')
    const everything = restoreDocker
      .calls()
      .map((c) => c.cmdline)
      .join('\n')
    expect(everything).not.toContain('r00t-secret')
  })
})
