import {execFileSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {dirname as dirnameOf, join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fakeDocker, fixtureStack, sha256Of, treeOf, weekday, without} from './helpers.js'

// `docker` here is the stand-in in test/bin (no Docker engine on the test machine): it records its calls.

/** `tar -tzv` lines reduced to what must match: type+mode, owner, size, name (no './', no trailing '/'), link. */
function listing(text: string): string[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [perm, owner, size, , , ...rest] = line.trim().split(/\s+/)
      const name = rest
        .join(' ')
        .replace(/^\.\//, '')
        .replace(/\/($| -> )/, '$1')
      const numeric = owner!.replaceAll('root', '0')
      return `${perm} ${numeric} ${perm!.startsWith('d') || perm!.startsWith('l') ? 0 : size} ${name}`
    })
    .sort()
}

function tarList(file: string): string[] {
  return listing(execFileSync('tar', ['-tzvf', file, '--numeric-owner'], {encoding: 'utf8'}))
}

function archivesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.tar.gz')) : []
}

describe('bk iotstack backup', () => {
  it("writes IOTstack's dated and rolling archives with IOTstack's members plus .env and post_restore.sh", async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    const result = await runBk(['iotstack', 'backup', stack, '--json'], {env: docker.env})
    expect(result.stderr).not.toMatch(/bk: (?!warning)/)
    expect(result.exitCode).toBe(0)
    const json = result.json<{
      archives: {kind: string; path: string; sha256: string}[]
      includesEnv: boolean
      log: string
    }>()
    expect(json.includesEnv).toBe(true)

    const dated = archivesIn(join(stack, 'backups/backup'))
    expect(dated).toHaveLength(1)
    expect(dated[0]).toMatch(/^backup_\d{4}-\d\d-\d\d_\d{4}\.tar\.gz$/)
    const datedFile = join(stack, 'backups/backup', dated[0]!)
    const rollingFile = join(stack, 'backups/rolling', `backup_${weekday()}.tar.gz`)
    expect(sha256Of(rollingFile)).toBe(sha256Of(datedFile))
    for (const file of [datedFile, rollingFile]) expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(existsSync(`${datedFile}.bk.json`)).toBe(true)

    // Same members, owners, modes, sizes and symlink as IOTstack's own archive, plus what IOTstack leaves out.
    const iotstack = listing(readFileSync(fixturePath('iotstack', 'archive-listing.txt'), 'utf8'))
    const extra = ['-rw------- 0/0 112 .env', '-rw-r--r-- 0/0 50 post_restore.sh']
    expect(tarList(datedFile)).toEqual([...iotstack, ...extra].sort())

    // The log, in backups/logs, holds the hook output.
    const log = readFileSync(json.log, 'utf8')
    expect(json.log.startsWith(join(stack, 'backups/logs/backup_'))).toBe(true)
    expect(log).toContain('post_backup hook ran')
    expect(log).toContain('Result: ok')
    // The stack is not running: docker is asked, nothing is stopped or started, nothing to warn about.
    expect(docker.sequence()).toEqual(['compose version', 'compose ps -q'])
    expect(result.stderr).not.toMatch(/--live|not available|mid-write/)
  })

  it('restores (GNU tar, as IOTstack would) to the identical tree, .env included', async () => {
    const stack = fixtureStack()
    const before = treeOf(stack)
    const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '-q'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe('')
    expect(archivesIn(join(stack, 'backups/rolling'))).toEqual([])
    const file = join(stack, 'backups/backup', archivesIn(join(stack, 'backups/backup'))[0]!)
    const out = tempDir()
    execFileSync('tar', ['-xzpf', file, '--numeric-owner', '-C', out])
    const restored = treeOf(out)
    // pre_backup.sh rewrote the marker during the backup (same bytes); its mtime is not compared.
    expect(restored).toEqual(before)
    expect(restored['volumes/mosquitto/data/flows-link.json']).toMatchObject({
      type: 'symlink',
      uid: 1883,
      link: '../../nodered/data/flows.json',
    })
    expect(restored['volumes/grafana/data/grafana.db']).toMatchObject({uid: 472, gid: 472})
    expect(restored['volumes/mariadb/db_backup']).toMatchObject({type: 'dir', mode: '700'})
    expect(restored['.env']).toMatchObject({mode: '600'})
  })

  for (const flags of [[], ['--stop']]) {
    it(`by default${flags.length ? ' (and --stop)' : ''}: down, pre_backup.sh, archive, post_backup.sh, up -d, as backup.sh`, async () => {
      const stack = fixtureStack()
      const docker = fakeDocker()
      docker.setUp(true)
      writeFileSync(join(stack, 'pre_backup.sh'), `echo '{"hook":"pre_backup"}' >> "$BK_FAKE_DOCKER_LOG"\n`)
      writeFileSync(
        join(stack, 'post_backup.sh'),
        `echo '{"hook":"post_backup '$BK_STATUS'"}' >> "$BK_FAKE_DOCKER_LOG"\n`,
      )
      const result = await runBk(['iotstack', 'backup', stack, ...flags], {env: docker.env})
      expect(result.exitCode).toBe(0)
      expect(docker.sequence()).toEqual([
        'compose version',
        'compose ps -q',
        'compose down',
        'hook pre_backup',
        'hook post_backup ok',
        'compose up -d',
      ])
      expect(readFileSync(docker.state, 'utf8')).toBe('up')
      expect(result.stdout).toContain('brought down for the copy and up again')
      const log = readdirSync(join(stack, 'backups/logs'))
      const text = readFileSync(join(stack, 'backups/logs', log[0]!), 'utf8')
      expect(text.indexOf('docker compose down')).toBeLessThan(text.indexOf('docker compose up -d'))
      expect(readdirSync(join(stack, 'backups')).filter((n) => n.startsWith('.'))).toEqual([])
    })
  }

  it('--live copies the running stack: no down/up, and a warning --quiet does not hide when no dump covers its databases', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    const quiet = await runBk(['iotstack', 'backup', stack, '--live', '-q', '--type', 'dated'], {env: docker.env})
    expect(quiet.exitCode).toBe(0)
    expect(quiet.stdout).toBe('')
    expect(quiet.stderr).toBe(
      'bk: warning: --live: the stack kept running and no dump covers its databases (influxdb, mariadb): their files may be copied mid-write and not restore; add --dump-databases, or leave out --live\n',
    )
    expect(docker.sequence()).toEqual(['compose version', 'compose ps -q'])
    const logs = readdirSync(join(stack, 'backups/logs'))
    expect(readFileSync(join(stack, 'backups/logs', logs[0]!), 'utf8')).toContain(
      'Warning: --live: the stack kept running',
    )
    // With --dump-databases the dumps cover them: no warning; the stack is never brought down.
    const dumped = fakeDocker()
    dumped.setUp(true)
    const r2 = await runBk(['iotstack', 'backup', stack, '--live', '--dump-databases', '-q', '--type', 'dated'], {
      env: dumped.env,
    })
    expect(r2.exitCode).toBe(0)
    expect(r2.stderr).toBe('')
    expect(dumped.sequence().filter((c) => !c.includes('exec'))).toEqual(['compose version', 'compose ps -q'])
    // A stack that is down: nothing runs, nothing to warn about.
    const down = fakeDocker()
    const r3 = await runBk(['iotstack', 'backup', stack, '--live', '--type', 'dated'], {env: down.env})
    expect(r3.exitCode).toBe(0)
    expect(r3.stderr).not.toContain('--live')
    // --live and --stop contradict each other.
    const both = await runBk(['iotstack', 'backup', stack, '--live', '--stop'], {env: down.env})
    expect(both.exitCode).toBe(2)
  })

  it('without Docker Compose on the machine: a warning, then the copy (--stop asked by name fails instead)', async () => {
    const stack = fixtureStack()
    // PATH without the stand-in: this machine's docker (if any) has no compose plugin, and docker-compose is absent.
    const env = {PATH: `${dirnameOf(process.execPath)}:/usr/bin:/bin`, BK_FAKE_DOCKER_NO_COMPOSE: '1'}
    const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated'], {env})
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('bk: warning: docker compose is not available here')
    const stop = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--stop'], {env})
    expect(stop.exitCode).toBe(1)
    expect(stop.stderr).toContain('neither `docker compose` nor `docker-compose` works here')
  })

  it('--stop falls back to docker-compose when `docker compose` is missing', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker({BK_FAKE_DOCKER_NO_COMPOSE: '1'})
    docker.setUp(true)
    const result = await runBk(['iotstack', 'backup', stack, '--stop', '--type', 'dated'], {env: docker.env})
    expect(result.exitCode).toBe(0)
    expect(
      docker
        .calls()
        .filter((c) => c.tool === 'docker-compose')
        .map((c) => c.argv.join(' ')),
    ).toEqual(['version', 'ps -q', 'down', 'up -d'])
  })

  it('a failing pre_backup.sh aborts with a clear message, writes no archive and brings the stack back up', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    writeFileSync(join(stack, 'pre_backup.sh'), 'echo "cannot prepare" >&2\nexit 3\n')
    writeFileSync(
      join(stack, 'post_backup.sh'),
      `echo '{"hook":"post_backup '$BK_STATUS'"}' >> "$BK_FAKE_DOCKER_LOG"\n`,
    )
    const result = await runBk(['iotstack', 'backup', stack], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/^bk: backup failed: pre_backup.sh failed \(exit 3\)/m)
    expect(archivesIn(join(stack, 'backups/backup'))).toEqual([])
    expect(archivesIn(join(stack, 'backups/rolling'))).toEqual([])
    expect(readdirSync(join(stack, 'backups/backup'))).toEqual([]) // no partial either
    expect(docker.sequence()).toEqual([
      'compose version',
      'compose ps -q',
      'compose down',
      'hook post_backup failed',
      'compose up -d',
    ])
    const log = readdirSync(join(stack, 'backups/logs'))
    expect(readFileSync(join(stack, 'backups/logs', log[0]!), 'utf8')).toContain('cannot prepare')
  })

  it('a failing docker compose down is an error (IOTstack carried on with a live stack)', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker({BK_FAKE_DOCKER_FAIL: 'down'})
    docker.setUp(true)
    const result = await runBk(['iotstack', 'backup', stack, '--stop'], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain('docker compose down failed (exit 17): stand-in: down failed on request')
    expect(archivesIn(join(stack, 'backups/backup'))).toEqual([])
    // a down that failed halfway stopped some containers: they are brought back up
    expect(docker.sequence().slice(-2)).toEqual(['compose down', 'compose up -d'])
  })

  it('refuses a folder that is not a stack', async () => {
    const dir = tempDir()
    const result = await runBk(['iotstack', 'backup', dir])
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/holds no docker-compose.yml/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('--keep prunes older dated archives only; rolling ones are untouched', async () => {
    const stack = fixtureStack()
    const datedDir = join(stack, 'backups/backup')
    const rollingDir = join(stack, 'backups/rolling')
    mkdirSync(datedDir, {recursive: true})
    mkdirSync(rollingDir, {recursive: true})
    const archive = fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz')
    for (const name of [
      'backup_2025-01-01_0200.tar.gz',
      'backup_2025-02-01_0200.tar.gz',
      'backup_2025-03-01_0200.tar.gz',
    ]) {
      copyFileSync(archive, join(datedDir, name))
    }
    copyFileSync(archive, join(rollingDir, 'backup_7.tar.gz'))
    const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--keep', '2', '--json'])
    expect(result.exitCode).toBe(0)
    const names = archivesIn(datedDir).sort()
    expect(names).toHaveLength(2)
    expect(names[0]).toBe('backup_2025-03-01_0200.tar.gz')
    expect(
      result.json<{pruned: {removed: {path: string}[]}}>().pruned.removed.map((p) => p.path.split('/').pop()),
    ).toEqual(['backup_2025-02-01_0200.tar.gz', 'backup_2025-01-01_0200.tar.gz'])
    expect(archivesIn(rollingDir)).toEqual(['backup_7.tar.gz'])
  })

  it('--user gives archives and log to that user when run as root', async () => {
    expect(process.geteuid?.()).toBe(0) // the fixture owners need root anyway
    const stack = fixtureStack()
    const result = await runBk(['iotstack', 'backup', stack, '--user', 'nobody', '--json'])
    expect(result.exitCode).toBe(0)
    const json = result.json<{archives: {path: string}[]; log: string}>()
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], {encoding: 'utf8'}).trim())
    for (const file of [...json.archives.map((a) => a.path), json.log]) expect(statSync(file).uid).toBe(nobody)
    const bad = await runBk(['iotstack', 'backup', stack, '--user', 'no-such-user-bk'])
    expect(bad.exitCode).not.toBe(0)
    expect(bad.stderr).toContain('--user no-such-user-bk: no such user')
  })

  it('--dump-databases dumps MariaDB and InfluxDB through docker compose exec, secrets never in argv', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    docker.setUp(true)
    const result = await runBk(['iotstack', 'backup', stack, '--dump-databases', '--json'], {env: docker.env})
    expect(result.stderr).not.toMatch(/bk: (?!warning)/)
    expect(result.exitCode).toBe(0)
    const dumps = result.json<{dumps: {service: string; file: string}[]}>().dumps
    expect(dumps.map((d) => [d.service, d.file])).toEqual([
      ['influxdb', 'volumes/influxdb/db_backup/bk-dump-influxdb.influx.tar'],
      ['mariadb', 'volumes/mariadb/db_backup/bk-dump-mariadb.sql.gz'],
    ])
    const sql = gunzipSync(readFileSync(join(stack, 'volumes/mariadb/db_backup/bk-dump-mariadb.sql.gz'))).toString()
    expect(sql).toBe(
      '-- fake dump of mariadb by the bk test stand-in\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1),(2),(3);\n',
    )
    expect(statSync(join(stack, 'volumes/mariadb/db_backup/bk-dump-mariadb.sql.gz')).mode & 0o777).toBe(0o600)
    // The dumps are inside the archive.
    const file = join(stack, 'backups/backup', archivesIn(join(stack, 'backups/backup'))[0]!)
    const members = execFileSync('tar', ['-tzf', file], {encoding: 'utf8'})
    expect(members).toContain('volumes/mariadb/db_backup/bk-dump-mariadb.sql.gz')
    expect(members).toContain('volumes/influxdb/db_backup/bk-dump-influxdb.influx.tar')
    // What ran: exec -T <service> sh -c <script naming the container's variable, not its value>.
    const execs = docker.calls().filter((c) => c.argv[1] === 'exec')
    expect(execs.map((c) => c.argv.slice(1, 6).join(' '))).toEqual(['exec -T influxdb sh -c', 'exec -T mariadb sh -c'])
    expect(execs[1]!.argv[6]).toContain('MYSQL_PWD="$MYSQL_ROOT_PASSWORD"')
    const everything = docker
      .calls()
      .map((c) => `${c.argv.join(' ')} ${c.cmdline}`)
      .join('\n')
    for (const secret of ['r00t-secret', 'user-secret', 'influx-secret']) {
      expect(everything).not.toContain(secret)
      expect(result.stdout).not.toContain(secret)
    }
    // Dumped while it ran, then down for the copy and up again.
    expect(docker.sequence().slice(-2)).toEqual(['compose down', 'compose up -d'])
    expect(docker.sequence().indexOf('compose down')).toBeGreaterThan(
      docker.sequence().findLastIndex((c) => c.includes('exec')),
    )
  })

  it('--dump-databases on a stack that is down, or a failing dump, is an error with no archive', async () => {
    const stack = fixtureStack()
    const down = fakeDocker()
    const r1 = await runBk(['iotstack', 'backup', stack, '--dump-databases'], {env: down.env})
    expect(r1.exitCode).not.toBe(0)
    expect(r1.stderr).toContain('--dump-databases needs the stack running')
    const failing = fakeDocker({BK_FAKE_DOCKER_FAIL_DUMP: 'mariadb'})
    failing.setUp(true)
    const r2 = await runBk(['iotstack', 'backup', stack, '--dump-databases'], {env: failing.env})
    expect(r2.exitCode).not.toBe(0)
    expect(r2.stderr).toMatch(/dump of mariadb \(mariadb\) failed: .*Access denied/)
    expect(archivesIn(join(stack, 'backups/backup'))).toEqual([])
    expect(readdirSync(join(stack, 'volumes/mariadb/db_backup'))).toEqual(['marker.txt'])
  })

  it("--zstd writes .tar.zst under the same names, replaces the slot's .tar.gz, and restores identically", async () => {
    const stack = fixtureStack()
    const before = treeOf(stack)
    expect((await runBk(['iotstack', 'backup', stack, '-q'])).exitCode).toBe(0)
    const result = await runBk(['iotstack', 'backup', stack, '--zstd', '--json'])
    expect(result.exitCode).toBe(0)
    const archives = result.json<{archives: {kind: string; path: string; overwritten?: boolean}[]}>().archives
    expect(archives.map((a) => a.path.split('/').pop())).toEqual([
      expect.stringMatching(/^backup_\d{4}-\d\d-\d\d_\d{4}(_1)?\.tar\.zst$/),
      `backup_${weekday()}.tar.zst`,
    ])
    expect(archives[1]!.overwritten).toBe(true)
    expect(readdirSync(join(stack, 'backups/rolling')).sort()).toEqual([
      `backup_${weekday()}.tar.zst`,
      `backup_${weekday()}.tar.zst.bk.json`,
    ])
    expect(
      execFileSync('sh', ['-c', `zstd -dc "${archives[0]!.path}" | tar -t | wc -l`], {encoding: 'utf8'}).trim(),
    ).toBe('35')
    const list = (await runBk(['iotstack', 'list', stack, '--json'])).json<{artifacts: {name: string}[]}>().artifacts
    expect(list.map((r) => r.name.split('.').slice(1).join('.')).sort()).toEqual(['tar.gz', 'tar.zst', 'tar.zst'])
    const target = join(tempDir(), 'IOTstack')
    const restored = await runBk(['iotstack', 'restore', archives[1]!.path, target, '--yes'])
    expect(restored.exitCode).toBe(0)
    expect(without(treeOf(target), 'post_restore.ran')).toEqual(before)
  })

  it('list and verify show bk and IOTstack archives; verify fails on a damaged one', async () => {
    const stack = fixtureStack()
    mkdirSync(join(stack, 'backups/backup'), {recursive: true})
    copyFileSync(
      fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz'),
      join(stack, 'backups/backup/backup_2026-11-21_2219.tar.gz'),
    )
    expect((await runBk(['iotstack', 'backup', stack, '-q'])).exitCode).toBe(0)
    const list = await runBk(['iotstack', 'list', stack, '--json'])
    expect(list.exitCode).toBe(0)
    const rows = list.json<{artifacts: {path: string; kind: string; madeBy: string; description: string}[]}>().artifacts
    expect(rows.map((r) => [r.kind, r.madeBy, r.description]).sort()).toEqual([
      ['dated', 'IOTstack', 'no .env'],
      ['dated', 'bk', '.env included'],
      ['rolling', 'bk', '.env included'],
    ])
    expect((await runBk(['iotstack', 'list', stack])).stdout).toMatch(/^DATE \(UTC\)\s+KIND\s+SIZE\s+NAME\s+NOTE$/m)
    const ref = (r: {path: string}) => r.path.slice(join(stack, 'backups/').length)
    const ourRow = rows.find((r) => r.kind === 'dated' && r.madeBy === 'bk')!
    const iot = await runBk(['iotstack', 'verify', 'backup/backup_2026-11-21_2219.tar.gz', stack])
    expect(iot.exitCode).toBe(0)
    expect(iot.stdout).toContain('IOTstack archive, no manifest')
    const ours = await runBk(['iotstack', 'verify', ref(ourRow), stack, '--json'])
    expect(ours.json<{madeBy: string; includesEnv: boolean}>()).toMatchObject({madeBy: 'bk', includesEnv: true})

    // Flip one byte in the middle of the bk archive: verify must fail.
    const file = ourRow.path
    const data = readFileSync(file)
    const middle = Math.floor(data.length / 2)
    data[middle] = data[middle]! ^ 0xff
    writeFileSync(file, data)
    const bad = await runBk(['iotstack', 'verify', ref(ourRow), stack])
    expect(bad.exitCode).not.toBe(0)
    expect(bad.stderr).toMatch(/^bk: .*(corrupt|truncated|manifest)/m)
  })
})

describe('bk iotstack prune', () => {
  it('removes old dated archives with their sidecars; --dry-run and no --yes change nothing', async () => {
    const stack = fixtureStack()
    const datedDir = join(stack, 'backups/backup')
    mkdirSync(datedDir, {recursive: true})
    const archive = fixturePath('iotstack', 'archives', 'backup_2026-11-21_2219.tar.gz')
    const names = ['backup_2025-01-01_0200.tar.gz', 'backup_2025-02-01_0200.tar.gz', 'backup_2025-03-01_0200.tar.gz']
    for (const name of names) copyFileSync(archive, join(datedDir, name))
    writeFileSync(join(datedDir, 'backup_2025-01-01_0200.tar.gz.bk.json'), '{}')
    const dry = await runBk(['iotstack', 'prune', stack, '--keep', '1', '--dry-run'])
    expect(dry.exitCode).toBe(0)
    expect(dry.stdout).toMatch(/^Plan: prune /m)
    expect(dry.stdout).toMatch(/remove\s+\S+backup_2025-01-01_0200\.tar\.gz/)
    expect(dry.stdout).toContain('Nothing was changed (--dry-run).')
    const refused = await runBk(['iotstack', 'prune', stack, '--keep', '1'])
    expect(refused.exitCode).not.toBe(0)
    expect(readdirSync(datedDir)).toHaveLength(4)
    const none = await runBk(['iotstack', 'prune', stack])
    expect(none.exitCode).not.toBe(0)
    expect(none.stderr).toContain('say what to keep')
    const done = await runBk(['iotstack', 'prune', stack, '--keep', '1', '--yes'])
    expect(done.exitCode).toBe(0)
    expect(readdirSync(datedDir)).toEqual(['backup_2025-03-01_0200.tar.gz'])
  })
})
