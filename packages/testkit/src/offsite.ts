import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {tempDir} from './tmp.js'

/**
 * Off-site targets for tests, all on this machine: an rclone local remote (`offsite:`, plain), an rclone crypt
 * remote over it (`secure:`), and a restic repository. Their settings live in a config file and password file
 * of a temp folder, named by `env` (RCLONE_CONFIG, RESTIC_PASSWORD_FILE): no secret is ever in argv.
 */
export interface OffsiteTargets {
  /** Pass to runBk: RCLONE_CONFIG, RESTIC_PASSWORD_FILE, RESTIC_CACHE_DIR (plus the SFTP remotes once started). */
  env: Record<string, string>
  /** The folder behind `offsite:` (the crypt remote stores under `<dir>/crypt`). */
  dir: string
  /** `offsite:<dir>/<name>`: plain, not encrypted. */
  plain(name: string): string
  /** `secure:<name>`: rclone crypt over the local remote. */
  crypt(name: string): string
  /** `restic:<repository>` (initialised). */
  restic: string
}

/** Fails loudly when rclone or restic is missing (.ci/run installs them). */
function requireTool(tool: string): void {
  try {
    execFileSync(tool, ['version'], {stdio: 'ignore'})
  } catch {
    throw new Error(`${tool} is not installed (apt-get install ${tool})`)
  }
}

/** Creates the local remotes and the restic repository in a temp folder. */
export function offsiteTargets(): OffsiteTargets {
  requireTool('rclone')
  requireTool('restic')
  const root = tempDir('bk-offsite-')
  const dir = join(root, 'remote')
  mkdirSync(dir)
  const obscured = execFileSync('rclone', ['obscure', '-'], {input: 'test-only-crypt-pass', encoding: 'utf8'}).trim()
  const config = join(root, 'rclone.conf')
  writeFileSync(
    config,
    `[offsite]\ntype = local\n\n[secure]\ntype = crypt\nremote = offsite:${dir}/crypt\npassword = ${obscured}\n`,
    {mode: 0o600},
  )
  const passwordFile = join(root, 'restic-pass')
  writeFileSync(passwordFile, 'test-only-restic-pass\n', {mode: 0o600})
  const repo = join(root, 'restic')
  const env = {RCLONE_CONFIG: config, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(root, 'restic-cache')}
  execFileSync('restic', ['init', '-r', repo, '--quiet'], {env: {...process.env, ...env}})
  return {
    env,
    dir,
    plain: (name) => `offsite:${dir}/${name}`,
    crypt: (name) => `secure:${name}`,
    restic: `restic:${repo}`,
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** An sshd of this test run, on 127.0.0.1, with rclone remotes over it. */
export interface SftpServer {
  port: number
  /** RCLONE_CONFIG_SFTP_* (type sftp) and RCLONE_CONFIG_SFTPCRYPT_* (crypt over it): add to runBk's env. */
  env: Record<string, string>
  /** The folder the remotes store under. */
  dir: string
  /** `sftpcrypt:<name>`: rclone crypt over SFTP. */
  crypt(name: string): string
  stop(): void
}

/**
 * Starts Debian's sshd as the current user (root) on a free port of 127.0.0.1 with a temp host key and
 * authorized_keys; rclone reaches it through remotes defined in environment variables (the crypt password
 * obscured, never in argv). Stop it with stop(); it also dies with this process.
 */
export async function startSftpServer(): Promise<SftpServer> {
  requireTool('rclone')
  if (!existsSync('/usr/sbin/sshd')) throw new Error('sshd is not installed (apt-get install openssh-server)')
  const root = tempDir('bk-sshd-')
  const dir = join(root, 'data')
  mkdirSync(dir)
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, 'host_key')])
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, 'client_key')])
  writeFileSync(join(root, 'authorized_keys'), readFileSync(join(root, 'client_key.pub')), {mode: 0o600})
  mkdirSync('/run/sshd', {recursive: true, mode: 0o755})
  const port = await freePort()
  const config = join(root, 'sshd_config')
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `HostKey ${join(root, 'host_key')}`,
      `AuthorizedKeysFile ${join(root, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      'PidFile none',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config, '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString()
  })
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  process.once('exit', stop)
  // Ready when it says it listens.
  for (let i = 0; ; i++) {
    if (/Server listening/.test(log)) break
    if (child.exitCode !== null || i > 100) {
      stop()
      throw new Error(`sshd did not start: ${log.trim().split('\n').at(-1) ?? 'no output'}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const user = process.env.USER || 'root'
  const obscured = execFileSync('rclone', ['obscure', '-'], {input: 'test-only-sftp-crypt', encoding: 'utf8'}).trim()
  return {
    port,
    dir,
    env: {
      RCLONE_CONFIG_SFTP_TYPE: 'sftp',
      RCLONE_CONFIG_SFTP_HOST: '127.0.0.1',
      RCLONE_CONFIG_SFTP_PORT: String(port),
      RCLONE_CONFIG_SFTP_USER: user,
      RCLONE_CONFIG_SFTP_KEY_FILE: join(root, 'client_key'),
      RCLONE_CONFIG_SFTPCRYPT_TYPE: 'crypt',
      RCLONE_CONFIG_SFTPCRYPT_REMOTE: `sftp:${dir}/crypt`,
      RCLONE_CONFIG_SFTPCRYPT_PASSWORD: obscured,
    },
    crypt: (name) => `sftpcrypt:${name}`,
    stop,
  }
}

/** The three kinds of target every application's off-site round trip goes through. */
export const OFFSITE_KINDS = ['restic', 'rclone crypt', 'sftp crypt'] as const

/** One kind of off-site target (see {@link OFFSITE_KINDS}). */
export type OffsiteKind = (typeof OFFSITE_KINDS)[number]

/** The target of that kind: the restic repository, or the crypt remote `name` (local, or over SFTP). */
export function offsiteTarget(kind: OffsiteKind, name: string, targets: OffsiteTargets, sftp: SftpServer): string {
  if (kind === 'restic') return targets.restic
  return kind === 'rclone crypt' ? targets.crypt(name) : sftp.crypt(name)
}
