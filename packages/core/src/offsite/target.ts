import {BkError, isBkError} from '../errors.js'
import {runTool} from '../process/tool.js'

/**
 * An off-site target, reached through a tool that already does transport well: restic (deduplicated, always
 * encrypted) or rclone (SFTP, S3, Google Drive, … ; encrypted when the remote is of type crypt). Written
 * `restic:<repository>` (restic's own repository syntax after the prefix; the password comes from
 * RESTIC_PASSWORD_FILE / RESTIC_PASSWORD / RESTIC_PASSWORD_COMMAND, never argv) or an rclone destination
 * `<remote>:<path>` (optionally `rclone:<remote>:<path>`; the remote from rclone's config file or its
 * RCLONE_CONFIG_<NAME>_* variables).
 */
export type OffsiteTarget =
  | {kind: 'restic'; repository: string; text: string}
  | {kind: 'rclone'; dest: string; text: string}

/** Reads a `--copy-to` / pull source; a malformed one is a one-line error. */
export function parseTarget(text: string): OffsiteTarget {
  if (text.startsWith('restic:')) {
    const repository = text.slice('restic:'.length)
    if (!repository) throw new BkError(`${text}: give the restic repository after 'restic:'`)
    return {kind: 'restic', repository, text}
  }
  const dest = text.startsWith('rclone:') ? text.slice('rclone:'.length) : text
  if (!/^[^/:]+:/.test(dest)) {
    throw new BkError(`${text}: give restic:<repository> or an rclone destination such as 'mydrive:backups'`)
  }
  return {kind: 'rclone', dest, text}
}

/** Whether the target encrypts what it stores: restic always, rclone when the remote is of type crypt. */
export async function isEncrypting(target: OffsiteTarget, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (target.kind === 'restic') return true
  const remote = /^([^/:]+):/.exec(target.dest)?.[1]
  if (!remote) return false
  const result = await offsiteTool('rclone', ['listremotes', '--long'], {env})
  for (const line of result.split('\n')) {
    const [name, type] = line.split(/:\s*/)
    if (name?.trim() === remote) return type?.trim() === 'crypt'
  }
  throw new BkError(`rclone has no remote named '${remote}'; create it with 'rclone config' (or check RCLONE_CONFIG)`)
}

/** restic refuses to ask for a password without a terminal: say what to set instead. */
export function assertResticPassword(env: NodeJS.ProcessEnv): void {
  if (!env.RESTIC_PASSWORD && !env.RESTIC_PASSWORD_FILE && !env.RESTIC_PASSWORD_COMMAND) {
    throw new BkError('restic needs the repository password: set RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD) and retry')
  }
}

/** Runs rclone or restic; a missing tool says how to install it. */
export async function offsiteTool(
  file: 'rclone' | 'restic',
  args: string[],
  options: {env: NodeJS.ProcessEnv; cwd?: string; stdout?: string; okExitCodes?: number[]},
): Promise<string> {
  try {
    const result = await runTool(file, args, {
      env: options.env,
      cwd: options.cwd,
      okExitCodes: options.okExitCodes,
      ...(options.stdout ? {stdout: {file: options.stdout}} : {}),
    })
    return result.stdout
  } catch (error) {
    if (isBkError(error) && error.code === 'ENOTOOL') {
      throw new BkError(`${file} is not installed; install it (apt-get install ${file}) to copy backups off-site`)
    }
    throw error
  }
}
