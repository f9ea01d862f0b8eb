// --dry-run cases of the IOTstack plugin, run by apps/bk/test/dry-run.test.ts: each command that offers --dry-run
// gets a real stack (and archives, remotes) and names everything it could touch. `docker` is the stand-in in
// test/bin (no Docker engine on the test machine); its call log is fingerprinted too, so a dry run that asked
// docker anything fails. The stack's hook scripts write markers into the stack, so a hook that ran fails too.
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {type DryRunCase, tempDir} from '@bkcli/testkit'
import {makeExampleStack} from '../src/example.js'
import {fakeDocker} from './fake-docker.js'

async function stack(): Promise<string> {
  const dir = join(tempDir('bk-iot-dry-'), 'IOTstack')
  await makeExampleStack(dir, {volumeBytes: 64 * 1024})
  for (const hook of ['pre_backup.sh', 'post_backup.sh', 'post_restore.sh'])
    writeFileSync(join(dir, hook), `echo ran > ${hook}.ran\n`)
  return dir
}

/** An IOTstack-style archive (`./services`, `./volumes` …) of another stack, made with GNU tar. */
async function archive(): Promise<string> {
  const other = await stack()
  writeFileSync(join(other, '.env'), 'MYSQL_ROOT_PASSWORD=other\n', {mode: 0o600})
  const file = join(tempDir('bk-iot-dry-archive-'), 'backup_2026-11-21_2219.tar.gz')
  const members = ['./services', './volumes', './docker-compose.yml', './.env', './post_restore.sh']
  execFileSync('tar', ['-czf', file, '-C', other, ...members])
  return file
}

function datedArchives(dir: string, from: string): void {
  const dated = join(dir, 'backups/backup')
  mkdirSync(dated, {recursive: true})
  for (const name of [
    'backup_2025-01-01_0200.tar.gz',
    'backup_2025-02-01_0200.tar.gz',
    'backup_2025-03-01_0200.tar.gz',
  ])
    copyFileSync(from, join(dated, name))
}

export const cases: DryRunCase[] = [
  {
    command: 'iotstack:backup',
    async setup() {
      const dir = await stack()
      datedArchives(dir, await archive())
      const docker = fakeDocker()
      docker.setUp(true)
      // A marker a killed backup left (the stack down): only a real run's recovery brings the stack up.
      writeFileSync(join(dir, 'backups/.bk-stack-stopped.json'), '{"pid": 999999999}\n')
      return {
        argv: ['iotstack', 'backup', dir, '--dump-databases', '--keep', '1'],
        state: {paths: [dir, docker.log, docker.state]},
        env: docker.env,
      }
    },
  },
  {
    command: 'iotstack:backup',
    async setup() {
      const dir = await stack()
      const docker = fakeDocker()
      docker.setUp(true)
      return {
        argv: ['iotstack', 'backup', dir, '--live'],
        state: {paths: [dir, docker.log, docker.state]},
        env: docker.env,
      }
    },
  },
  {
    // IOTstack's own command line, run in the stack folder as root: type 2 (rolling), USER nobody.
    command: 'iotstack:backup',
    async setup() {
      const dir = await stack()
      mkdirSync(join(dir, 'backups/rolling'), {recursive: true, mode: 0o700})
      const docker = fakeDocker()
      docker.setUp(true)
      return {
        argv: ['iotstack', 'backup', '2', 'nobody'],
        cwd: dir,
        state: {paths: [dir, docker.log, docker.state]},
        env: docker.env,
      }
    },
  },
  {
    command: 'iotstack:restore',
    async setup() {
      const dir = await stack()
      const file = await archive()
      const docker = fakeDocker()
      docker.setUp(true)
      return {
        argv: ['iotstack', 'restore', file, dir, '--start', '--restore-databases'],
        state: {paths: [dir, file, docker.log, docker.state]},
        env: docker.env,
      }
    },
  },
  {
    // IOTstack's `restore.sh FILE noask`, in the stack folder.
    command: 'iotstack:restore',
    async setup() {
      const dir = await stack()
      const file = await archive()
      const docker = fakeDocker()
      docker.setUp(true)
      return {
        argv: ['iotstack', 'restore', file, 'noask'],
        cwd: dir,
        state: {paths: [dir, file, docker.log, docker.state]},
        env: docker.env,
      }
    },
  },
  {
    command: 'iotstack:prune',
    async setup() {
      const dir = await stack()
      datedArchives(dir, await archive())
      return {argv: ['iotstack', 'prune', dir, '--keep', '1'], state: {paths: [dir]}}
    },
  },
  {
    command: 'iotstack:pull',
    async setup() {
      const dir = await stack()
      const remote = tempDir('bk-iot-dry-remote-')
      copyFileSync(await archive(), join(remote, 'backup_2026-11-21_2219.tar.gz'))
      const config = join(tempDir('bk-iot-dry-rclone-'), 'rclone.conf')
      writeFileSync(config, '[offsite]\ntype = local\n')
      return {
        argv: ['iotstack', 'pull', `offsite:${remote}`, dir],
        state: {paths: [dir, remote]},
        env: {RCLONE_CONFIG: config},
      }
    },
  },
]
