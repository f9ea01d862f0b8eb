/**
 * A Trac environment on disk: detected by its VERSION file, configured by conf/trac.ini (+ [inherit] chain).
 * Mirrors trac/env.py `verify()` and `setup_config()`, without Python.
 */
import {readFile, realpath, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {BkError, messageOf} from '@bkcli/core/errors'
import {journalPathFor, pendingCommitStage} from '@bkcli/core/workflow'
import {parseTracDbUrl, sqlitePathIn, type TracDbUrl} from './db-url.js'
import {TracConfig} from './trac-config.js'

export const ENV_VERSION_LINE = 'Trac Environment Version 1'
export const DEFAULT_DATABASE = 'sqlite:db/trac.db'

export class TracEnvironment {
  private constructor(
    /** Absolute, symlinks resolved (Trac's env.path is absolute too). */
    readonly path: string,
    readonly config: TracConfig,
  ) {}

  /** Opens `dir` as a Trac environment, or fails with Trac's own wording of what is wrong. */
  static async open(dir: string): Promise<TracEnvironment> {
    try {
      await checkEnvironmentDir(dir)
    } catch (error) {
      // A restore killed inside its commit: the env is at its stage until the next run (under the lock) finishes
      // the commit; read it there, so that run can plan.
      const stage = pendingCommitStage(journalPathFor(resolve(dir)), resolve(dir))
      if (!stage) throw error
      await checkEnvironmentDir(stage)
      return new TracEnvironment(resolve(dir), await TracConfig.load(join(stage, 'conf', 'trac.ini')))
    }
    const path = await realpath(dir)
    const config = await TracConfig.load(join(path, 'conf', 'trac.ini'))
    return new TracEnvironment(path, config)
  }

  /** `[trac] database` as written (may carry a password: never print it, use `databaseUrl` redacted). */
  get databaseUri(): string {
    return this.config.get('trac', 'database')?.trim() || DEFAULT_DATABASE
  }

  get database(): TracDbUrl {
    return parseTracDbUrl(this.databaseUri)
  }

  /** Absolute path of the SQLite database file (undefined for a server database). */
  get sqlitePath(): string | undefined {
    const db = this.database
    return db.engine === 'sqlite' ? sqlitePathIn(this.path, db) : undefined
  }

  /** `[trac] pg_dump_path` / `mysqldump_path` (Trac defaults: the bare program names). */
  clientPath(tool: 'pg_dump' | 'mysqldump'): string {
    return this.config.get('trac', `${tool}_path`)?.trim() || tool
  }
}

/** Trac's verify(): the VERSION file's first line must be exactly the env version line. */
export async function checkEnvironmentDir(dir: string): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(dir)
  } catch (error) {
    throw new BkError(`no Trac environment found at ${dir}: ${reason(error)}`)
  }
  if (!info.isDirectory()) throw new BkError(`no Trac environment found at ${dir}: not a directory`)
  let text: string
  try {
    text = await readFile(join(dir, 'VERSION'), 'utf8')
  } catch (error) {
    throw new BkError(`no Trac environment found at ${dir}: ${reason(error)} (VERSION file)`)
  }
  const first = (text.split('\n')[0] ?? '').trimEnd()
  if (first !== ENV_VERSION_LINE) {
    throw new BkError(
      `unknown Trac environment type '${first.slice(0, 80)}' at ${dir} (expected '${ENV_VERSION_LINE}')`,
    )
  }
  try {
    await stat(join(dir, 'conf', 'trac.ini'))
  } catch {
    throw new BkError(`the configuration file is not found at ${join(dir, 'conf', 'trac.ini')}`)
  }
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code
  if (code === 'ENOENT') return 'no such file or directory'
  if (code === 'EACCES') return 'permission denied'
  return messageOf(error)
}
