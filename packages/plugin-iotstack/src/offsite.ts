import {basename, dirname, join} from 'node:path'
import {atomicFile, BkError, isBkError, runTool} from '@bkcli/core'
import {ARCHIVE_NAME} from './naming.js'

/**
 * Off-site copies through tools that already do transport well: rclone (SFTP, Dropbox, Google Drive, S3, …) and
 * restic (deduplicated, encrypted). A target is `restic:<repository>` (restic's own repository syntax after the
 * prefix; the password comes from RESTIC_PASSWORD / RESTIC_PASSWORD_FILE / RESTIC_PASSWORD_COMMAND, never argv),
 * or an rclone destination `<remote>:<path>` (optionally written `rclone:<remote>:<path>`).
 */
export type OffsiteTarget =
  | {kind: 'restic'; repository: string; text: string}
  | {kind: 'rclone'; dest: string; text: string}

export function parseTarget(text: string): OffsiteTarget {
  if (text.startsWith('restic:')) {
    const repository = text.slice('restic:'.length)
    if (!repository) throw new BkError(`--copy-to ${text}: give the restic repository after 'restic:'`)
    return {kind: 'restic', repository, text}
  }
  const dest = text.startsWith('rclone:') ? text.slice('rclone:'.length) : text
  if (!dest) throw new BkError(`--copy-to ${text}: give an rclone destination such as 'mydrive:IOTstack'`)
  return {kind: 'rclone', dest, text}
}

const TAG = 'bk-iotstack'

/** Whether the target encrypts what it stores: restic always, rclone when the remote is of type crypt. */
export async function isEncrypting(target: OffsiteTarget, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (target.kind === 'restic') return true
  const remote = rcloneRemoteName(target.dest)
  if (!remote) return false
  const result = await tool('rclone', ['listremotes', '--long'], {env})
  for (const line of result.split('\n')) {
    const [name, type] = line.split(/:\s*/)
    if (name?.trim() === remote) return type?.trim() === 'crypt'
  }
  throw new BkError(`rclone has no remote named '${remote}'; create it with 'rclone config' (or check RCLONE_CONFIG)`)
}

function rcloneRemoteName(dest: string): string | undefined {
  const match = /^([^/:]+):/.exec(dest)
  return match?.[1]
}

export interface CopyResult {
  target: string
  tool: 'rclone' | 'restic'
  files: string[]
  encrypted: boolean
}

/**
 * Copies `files` (an archive and its sidecar) to the target. `holdsSecrets`: the archive includes `.env`; then an
 * unencrypted target is refused unless `allowUnencrypted`.
 */
export async function copyToTarget(
  target: OffsiteTarget,
  files: string[],
  options: {holdsSecrets: boolean; allowUnencrypted?: boolean; env?: NodeJS.ProcessEnv},
): Promise<CopyResult> {
  const env = options.env ?? process.env
  const encrypted = await isEncrypting(target, env)
  if (options.holdsSecrets && !encrypted && !options.allowUnencrypted) {
    throw new BkError(
      `${target.text} does not encrypt and the archive holds .env (passwords): use restic or an rclone crypt remote, or pass --allow-unencrypted`,
    )
  }
  if (target.kind === 'rclone') {
    for (const file of files) await tool('rclone', ['copyto', file, joinRemote(target.dest, basename(file))], {env})
  } else {
    assertResticPassword(env)
    // Relative names from the archive's folder: the snapshot lists them under that folder.
    const cwd = dirname(files[0]!)
    await tool(
      'restic',
      ['-r', target.repository, 'backup', '--quiet', '--tag', TAG, ...files.map((f) => basename(f))],
      {
        env,
        cwd,
      },
    )
  }
  return {target: target.text, tool: target.kind, files: files.map((f) => basename(f)), encrypted}
}

export interface PullResult {
  source: string
  tool: 'rclone' | 'restic'
  archive: string
  files: string[]
}

/**
 * Fetches an archive (by name, else the newest) and its sidecar from the target into `destDir`. Each file is
 * written under a temporary name and renamed, so a failed pull leaves nothing that looks complete.
 */
export async function pullFromTarget(
  target: OffsiteTarget,
  destDir: string,
  options: {name?: string; env?: NodeJS.ProcessEnv} = {},
): Promise<PullResult> {
  const env = options.env ?? process.env
  if (target.kind === 'rclone') {
    const listing = JSON.parse(await rcloneList(target.dest, env)) as {
      Name: string
      ModTime: string
    }[]
    const names = new Set(listing.map((e) => e.Name))
    const archives = listing.filter((e) => ARCHIVE_NAME.test(e.Name)).sort((a, b) => (a.ModTime < b.ModTime ? 1 : -1))
    const chosen = options.name ? archives.find((e) => e.Name === options.name) : archives[0]
    if (!chosen) throw notFound(target, options.name)
    const files = [chosen.Name, ...(names.has(`${chosen.Name}.bk.json`) ? [`${chosen.Name}.bk.json`] : [])]
    for (const name of files) {
      await intoPlace(join(destDir, name), async (tmp) => {
        await tool('rclone', ['copyto', joinRemote(target.dest, name), tmp], {env})
      })
    }
    return {source: target.text, tool: 'rclone', archive: join(destDir, chosen.Name), files}
  }
  assertResticPassword(env)
  const snapshots = JSON.parse(
    await tool('restic', ['-r', target.repository, 'snapshots', '--json', '--tag', TAG], {env}),
  ) as {short_id: string; id: string; time: string; paths: string[]}[]
  snapshots.sort((a, b) => (a.time < b.time ? 1 : -1))
  for (const snapshot of snapshots) {
    const archive = snapshot.paths.find((p) =>
      options.name ? basename(p) === options.name : ARCHIVE_NAME.test(basename(p)),
    )
    if (!archive) continue
    // Where the files sit inside the snapshot differs between restic versions (0.14 strips the common parent): ask it.
    const inTree = await resticPaths(target.repository, snapshot.id, env)
    const wanted = [
      basename(archive),
      ...(snapshot.paths.includes(`${archive}.bk.json`) ? [`${basename(archive)}.bk.json`] : []),
    ]
    const files = wanted.map((name) => {
      const path = inTree.get(name)
      if (!path)
        throw new BkError(
          `restic snapshot ${snapshot.short_id} does not list ${name}; check it with 'restic ls ${snapshot.short_id}'`,
        )
      return path
    })
    for (const path of files) {
      await intoPlace(join(destDir, basename(path)), async (tmp) => {
        await tool('restic', ['-r', target.repository, 'dump', snapshot.id, path], {env, stdout: tmp})
      })
    }
    return {
      source: target.text,
      tool: 'restic',
      archive: join(destDir, basename(archive)),
      files: files.map((f) => basename(f)),
    }
  }
  throw notFound(target, options.name)
}

/** `rclone lsjson` of the destination; a folder that does not exist yet lists as empty. */
async function rcloneList(dest: string, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    return await tool('rclone', ['lsjson', '--files-only', dest], {env})
  } catch (error) {
    if (/directory not found/.test((error as Error).message)) return '[]'
    throw error
  }
}

/** File name -> path inside the snapshot, from `restic ls --json`. */
async function resticPaths(repository: string, id: string, env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const out = await tool('restic', ['-r', repository, 'ls', '--json', id], {env})
  const paths = new Map<string, string>()
  for (const line of out.split('\n')) {
    if (!line.trim()) continue
    const node = JSON.parse(line) as {struct_type?: string; type?: string; name?: string; path?: string}
    if (node.struct_type === 'node' && node.type === 'file' && node.name && node.path) paths.set(node.name, node.path)
  }
  return paths
}

/** Written under a temporary name (0600) and renamed: a failed or killed pull leaves nothing that looks complete. */
async function intoPlace(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await atomicFile(dest, write, {mode: 0o600})
}

function notFound(target: OffsiteTarget, name?: string): BkError {
  return new BkError(
    name
      ? `${target.text} holds no ${name}; list it with ${target.kind === 'rclone' ? `'rclone ls ${target.dest}'` : `'restic -r ${target.repository} snapshots'`}`
      : `${target.text} holds no IOTstack backup (backup_*.tar.gz or .tar.zst)`,
  )
}

function joinRemote(dest: string, name: string): string {
  return dest.endsWith(':') || dest.endsWith('/') ? `${dest}${name}` : `${dest}/${name}`
}

function assertResticPassword(env: NodeJS.ProcessEnv): void {
  if (!env.RESTIC_PASSWORD && !env.RESTIC_PASSWORD_FILE && !env.RESTIC_PASSWORD_COMMAND) {
    throw new BkError('restic needs the repository password: set RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD) and retry')
  }
}

async function tool(
  file: 'rclone' | 'restic',
  args: string[],
  options: {env: NodeJS.ProcessEnv; cwd?: string; stdout?: string},
): Promise<string> {
  try {
    const result = await runTool(file, args, {
      env: options.env,
      cwd: options.cwd,
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
