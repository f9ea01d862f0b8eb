import {lstat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'

/**
 * An IOTstack folder and what a backup of it holds. IOTstack's backup.sh archives services/, volumes/,
 * docker-compose.yml, compose-override.yml, postbuild.sh and the two backup hooks; it means to, but does not,
 * archive docker-compose.override.yml and extra/, and it leaves out .env (the passwords the templates require)
 * and post_restore.sh. bk archives all of them, in IOTstack's order, as `./<name>` members.
 */
export const STACK_MEMBERS = [
  'services',
  'volumes',
  'docker-compose.yml',
  'docker-compose.override.yml',
  'compose-override.yml',
  'extra',
  'postbuild.sh',
  'post_backup.sh',
  'pre_backup.sh',
  'post_restore.sh',
  '.env',
] as const

/** Members IOTstack's backup.sh never put in an archive: a restore keeps the current ones when an archive lacks them. */
export const NEVER_IN_IOTSTACK_ARCHIVES = ['.env', 'docker-compose.override.yml', 'extra', 'post_restore.sh'] as const

/** Folders (in the archive, with a trailing '/') among the members. */
export const DIRECTORY_MEMBERS = new Set(['services', 'volumes', 'extra'])

export interface StackPaths {
  dir: string
  backups: string
  dated: string
  rolling: string
  logs: string
  preRestore: string
}

export function stackPaths(dir: string, location?: string): StackPaths {
  const root = resolve(dir)
  const backups = resolve(root, location ?? 'backups')
  return {
    dir: root,
    backups,
    dated: join(backups, 'backup'),
    rolling: join(backups, 'rolling'),
    logs: join(backups, 'logs'),
    preRestore: join(backups, 'pre-restore'),
  }
}

/** The stack's members that exist, in archive order; BkError when the folder is not an IOTstack folder. */
export async function presentMembers(dir: string): Promise<string[]> {
  const present: string[] = []
  for (const name of STACK_MEMBERS) {
    const stat = await lstat(join(dir, name)).catch(() => undefined)
    if (!stat) continue
    if (DIRECTORY_MEMBERS.has(name) ? stat.isDirectory() : stat.isFile() || stat.isSymbolicLink()) present.push(name)
  }
  return present
}

/** Checks that `dir` is a stack folder: it exists and holds docker-compose.yml (or, freshly cloned, nothing to back up). */
export async function assertStackDir(dir: string): Promise<void> {
  const stat = await lstat(dir).catch(() => undefined)
  if (!stat?.isDirectory()) throw new BkError(`${dir} is not a folder; pass the IOTstack folder (e.g. ~/IOTstack)`)
  const compose = await lstat(join(dir, 'docker-compose.yml')).catch(() => undefined)
  if (!compose) {
    throw new BkError(
      `${dir} holds no docker-compose.yml: is it an IOTstack folder? (run bk in it or pass it as argument)`,
    )
  }
}
