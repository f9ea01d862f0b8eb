import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, startSftpServer, tempDir} from '@bkcli/testkit'
import {beforeAll, describe, expect, it} from 'vitest'
import {fixtureStack, sha256Of, treeOf, without} from './helpers.js'

// Real rclone and restic (Debian packages), with a local rclone remote (and a crypt remote over it) and a local
// restic repository. They must be installed: .ci/run installs them; a missing one fails here, loudly.

let env: Record<string, string>
let remoteDir: string
let repo: string

beforeAll(() => {
  for (const tool of ['rclone', 'restic']) {
    expect(
      () => execFileSync(tool, ['version'], {stdio: 'ignore'}),
      `${tool} is not installed (apt-get install ${tool})`,
    ).not.toThrow()
  }
  const dir = tempDir('bk-offsite-')
  remoteDir = join(dir, 'remote')
  mkdirSync(remoteDir)
  const obscured = execFileSync('rclone', ['obscure', 'test-only-crypt-pass'], {encoding: 'utf8'}).trim()
  const config = join(dir, 'rclone.conf')
  writeFileSync(
    config,
    `[offsite]\ntype = local\n\n[secure]\ntype = crypt\nremote = offsite:${remoteDir}/crypt\npassword = ${obscured}\n`,
  )
  const passwordFile = join(dir, 'restic-pass')
  writeFileSync(passwordFile, 'test-only-restic-pass\n', {mode: 0o600})
  repo = join(dir, 'restic')
  env = {RCLONE_CONFIG: config, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(dir, 'restic-cache')}
  execFileSync('restic', ['init', '-r', repo, '--quiet'], {env: {...process.env, ...env}})
})

function datedArchive(stack: string): string {
  const dir = join(stack, 'backups/backup')
  return join(dir, readdirSync(dir).find((n) => n.endsWith('.tar.gz'))!)
}

describe('off-site copies', () => {
  it('refuses an unencrypted rclone target for an archive holding .env, before writing anything', async () => {
    const stack = fixtureStack()
    const result = await runBk(['iotstack', 'backup', stack, '--copy-to', `offsite:${remoteDir}/plain`], {env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/does not encrypt .*--allow-unencrypted/)
    expect(existsSync(join(stack, 'backups/backup'))).toBe(false)
    expect(existsSync(join(remoteDir, 'plain'))).toBe(false)
  })

  it('--allow-unencrypted copies archive and manifest to a plain rclone remote', async () => {
    const stack = fixtureStack()
    const result = await runBk(
      [
        'iotstack',
        'backup',
        stack,
        '--type',
        'dated',
        '--copy-to',
        `offsite:${remoteDir}/plain`,
        '--allow-unencrypted',
      ],
      {env},
    )
    expect(result.exitCode).toBe(0)
    const archive = datedArchive(stack)
    const name = archive.split('/').pop()!
    // The archive where it was under the location (backup/), its sidecar beside it, and the remote's index.
    expect(readdirSync(join(remoteDir, 'plain/backup')).sort()).toEqual([name, `${name}.bk.json`])
    expect(readdirSync(join(remoteDir, 'plain/.bk-offsite/iotstack'))).toEqual([`${name}.json`])
    expect(sha256Of(join(remoteDir, 'plain/backup', name))).toBe(sha256Of(archive))
  })

  it('round trip through an rclone crypt remote: stored encrypted, pulled back byte for byte and verified', async () => {
    const stack = fixtureStack()
    const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--copy-to', 'secure:iot', '--json'], {
      env,
    })
    expect(result.exitCode).toBe(0)
    const archiveName = datedArchive(stack).split('/').pop()
    expect(result.json<{offsite: {encrypted: boolean; tool: string}[]}>().offsite).toEqual([
      {target: 'secure:iot', tool: 'rclone', encrypted: true, artifacts: [archiveName], removed: []},
    ])
    const archive = datedArchive(stack)
    // Stored under encrypted names and contents.
    const stored = execFileSync('find', [join(remoteDir, 'crypt'), '-type', 'f'], {encoding: 'utf8'})
    expect(stored).not.toContain('backup_')
    expect(stored.trim().split('\n')).toHaveLength(3)

    const other = fixtureStack()
    const pulled = await runBk(['iotstack', 'pull', 'secure:iot', other, '--json'], {env})
    expect(pulled.stderr).toBe('')
    expect(pulled.exitCode).toBe(0)
    const json = pulled.json<{
      artifacts: {path: string}[]
      verified: {ok: boolean; madeBy: string; includesEnv: boolean}[]
    }>()
    expect(json.verified).toEqual([expect.objectContaining({ok: true, madeBy: 'bk', includesEnv: true})])
    expect(json.artifacts.map((a) => a.path)).toEqual([join(other, 'backups/backup', archive.split('/').pop()!)])
    expect(sha256Of(json.artifacts[0]!.path)).toBe(sha256Of(archive))
    expect(readdirSync(join(other, 'backups/backup')).filter((n) => n.startsWith('.'))).toEqual([])
  })

  it('round trip through a restic repository', async () => {
    const stack = fixtureStack()
    const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--copy-to', `restic:${repo}`], {env})
    expect(result.stderr).not.toMatch(/bk: (?!warning)/)
    expect(result.exitCode).toBe(0)
    const archive = datedArchive(stack)
    const other = fixtureStack()
    const pulled = await runBk(['iotstack', 'pull', `restic:${repo}`, other, '--json'], {env})
    expect(pulled.exitCode).toBe(0)
    const json = pulled.json<{artifacts: {path: string}[]; tool: string}>()
    expect(json.tool).toBe('restic')
    expect(sha256Of(json.artifacts[0]!.path)).toBe(sha256Of(archive))
    // And it restores, to the same tree as the source.
    const target = join(tempDir(), 'IOTstack')
    const restored = await runBk(['iotstack', 'restore', json.artifacts[0]!.path, target, '--yes'], {env})
    expect(restored.exitCode, restored.stderr).toBe(0)
    expect(without(treeOf(target), 'post_restore.ran')).toEqual(treeOf(stack))
  })

  it('round trip through rclone crypt over SFTP (sshd on 127.0.0.1): pull, restore, the same tree as the source', async () => {
    const sftp = await startSftpServer()
    try {
      const stack = fixtureStack()
      const sftpEnv = {...env, ...sftp.env}
      const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--copy-to', sftp.crypt('iot')], {
        env: sftpEnv,
      })
      expect(result.exitCode, result.stderr).toBe(0)
      const archive = datedArchive(stack)
      rmSync(join(stack, 'backups'), {recursive: true})
      const pulled = await runBk(['iotstack', 'pull', sftp.crypt('iot'), stack, '--json'], {env: sftpEnv})
      expect(pulled.exitCode, pulled.stderr).toBe(0)
      const path = pulled.json<{artifacts: {path: string}[]}>().artifacts[0]!.path
      expect(path).toBe(archive)
      const target = join(tempDir(), 'IOTstack')
      const restored = await runBk(['iotstack', 'restore', path, target, '--yes'], {env})
      expect(restored.exitCode, restored.stderr).toBe(0)
      expect(without(treeOf(target), 'post_restore.ran')).toEqual(treeOf(stack))
    } finally {
      sftp.stop()
    }
  })

  it('a pull killed while fetching or placing leaves no archive; the next pull cleans up and brings it whole', async () => {
    const stack = fixtureStack()
    const result = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--copy-to', `restic:${repo}`], {env})
    expect(result.exitCode, result.stderr).toBe(0)
    const archive = datedArchive(stack)
    const name = archive.split('/').pop()!
    const bytes = sha256Of(archive)
    for (const at of ['pull-fetched', 'pull-placed#1']) {
      const other = fixtureStack()
      const pull = ['iotstack', 'pull', `restic:${repo}`, other, '--name', name]
      const killed = await runBk(pull, {env: {...env, BK_CRASH_AT: at}})
      expect(killed.signal ?? killed.exitCode, at).toBe('SIGKILL')
      const dated = join(other, 'backups/backup')
      expect(existsSync(join(dated, name)), at).toBe(false)
      const again = await runBk([...pull, '--json'], {env})
      expect(again.exitCode, again.stderr).toBe(0)
      expect(again.stderr).toMatch(/removed .*\.bk-pull-partial-\d+: a pull that was interrupted/)
      expect(sha256Of(join(dated, name))).toBe(bytes)
      expect(readdirSync(dated).sort()).toEqual([name, `${name}.bk.json`])
      expect(readdirSync(join(other, 'backups')).filter((n) => n.startsWith('.'))).toEqual([])
    }
  })

  it('restic without a password, and pulling a name that is not there, are clear errors', async () => {
    const stack = fixtureStack()
    const noPass = await runBk(['iotstack', 'pull', `restic:${repo}`, stack], {
      env: {...env, RESTIC_PASSWORD_FILE: '', RESTIC_PASSWORD: ''},
    })
    expect(noPass.exitCode).not.toBe(0)
    expect(noPass.stderr).toContain('restic needs the repository password')
    const missing = await runBk(
      ['iotstack', 'pull', 'secure:nothing-here', stack, '--name', 'backup_1999-01-01_0000.tar.gz'],
      {env},
    )
    expect(missing.exitCode).not.toBe(0)
    expect(missing.stderr).toContain('holds no iotstack backup named backup_1999-01-01_0000.tar.gz')
    const empty = await runBk(['iotstack', 'pull', `offsite:${remoteDir}/empty`, stack], {env})
    expect(empty.exitCode).not.toBe(0)
    expect(empty.stderr).toContain('holds no iotstack backup')
  })
})
