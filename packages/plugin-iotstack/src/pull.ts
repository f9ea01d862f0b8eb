import {rmSync} from 'node:fs'
import {lstat, mkdir, rename, rm} from 'node:fs/promises'
import {join, relative} from 'node:path'
import {BkError, onInterrupt, type Plan, step} from '@bkcli/core'
import {DATED_NAMING, ROLLING_NAMINGS} from './naming.js'
import {parseTarget, pullFromTarget} from './offsite.js'
import {stackPaths} from './stack.js'
import {type VerifyResult, verifyBackup} from './verify.js'

/**
 * `bk iotstack pull <source>`: brings an off-site copy (rclone remote or restic repository) back into the stack's
 * backups folder (dated names into backup/, rolling ones into rolling/) and verifies it, ready for
 * `bk iotstack restore <name>`.
 */
export interface PullBackupResult {
  source: string
  tool: 'rclone' | 'restic'
  archive: string
  /** What to pass to restore. */
  ref: string
  verified: VerifyResult
}

export async function pullBackup(
  source: string,
  stackDir: string,
  options: {name?: string; location?: string; env?: NodeJS.ProcessEnv} = {},
): Promise<PullBackupResult> {
  const paths = stackPaths(stackDir, options.location)
  const incoming = join(paths.backups, `.pull.bk-partial-${process.pid}`)
  await mkdir(incoming, {recursive: true, mode: 0o700})
  const unregister = onInterrupt(() => rmSync(incoming, {recursive: true, force: true}), {sweep: true})
  try {
    const pulled = await pullFromTarget(parseTarget(source), incoming, {name: options.name, env: options.env})
    const name = pulled.files[0]!
    const folder = ROLLING_NAMINGS.some((n) => n.parse(name)) && !DATED_NAMING.parse(name) ? paths.rolling : paths.dated
    await mkdir(folder, {recursive: true, mode: 0o700})
    const dest = join(folder, name)
    if (
      await lstat(dest).then(
        () => true,
        () => false,
      )
    ) {
      throw new BkError(
        `${relative(process.cwd(), dest)} already exists here; restore it directly, or move it away and pull again`,
      )
    }
    for (const file of pulled.files.slice(1)) await rename(join(incoming, file), join(folder, file))
    await rename(join(incoming, name), dest)
    const verified = await verifyBackup(dest, paths.dir, {location: options.location})
    return {source, tool: pulled.tool, archive: dest, ref: relative(paths.backups, dest), verified}
  } finally {
    await rm(incoming, {recursive: true, force: true})
    unregister()
  }
}

/** What a pull would do; reads nothing remote (the listing is the run's first step). */
export function planPull(source: string, stackDir: string, options: {name?: string; location?: string} = {}): Plan {
  const target = parseTarget(source)
  const paths = stackPaths(stackDir, options.location)
  return {
    summary: `pull ${options.name ?? 'the newest archive'} from ${target.text} into ${paths.backups}`,
    steps: [
      step('copy', target.text, `${options.name ?? 'the newest archive'} and its .bk.json, through ${target.kind}`),
      step(
        'create',
        paths.backups,
        `under ${relative(paths.backups, paths.dated)}/ or ${relative(paths.backups, paths.rolling)}/`,
      ),
      step('check', paths.backups, 'the archive read through and compared with its manifest'),
    ],
  }
}
