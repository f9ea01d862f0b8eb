/**
 * What an environment needs that lives outside its directory (trac-admin hotcopy copies none of it):
 * inherited ini files, shared plugin/template/htdocs dirs, authz and password files, repositories,
 * an SQLite database or log file elsewhere, SQLite extensions.
 */
import {existsSync} from 'node:fs'
import {isAbsolute, resolve} from 'node:path'
import {sameOrInside} from '@bkcli/core/fs'
import type {TracEnvironment} from './environment.js'
import {splitList} from './trac-config.js'

export type DependencyKind =
  | 'inherited-config'
  | 'shared-dir'
  | 'auth-file'
  | 'repository'
  | 'database'
  | 'log'
  | 'extension'

export interface ExternalDependency {
  kind: DependencyKind
  /** Where it is named (`[svn] authz_file`, `[inherit] file`, `repository table`). */
  source: string
  path: string
  exists: boolean
}

/** PathOptions that name files or dirs (relative to the ini file that sets them). */
const pathOptions: [string, string, DependencyKind][] = [
  ['inherit', 'plugins_dir', 'shared-dir'],
  ['inherit', 'templates_dir', 'shared-dir'],
  ['inherit', 'htdocs_dir', 'shared-dir'],
  ['svn', 'authz_file', 'auth-file'],
  ['authz_policy', 'authz_file', 'auth-file'],
  ['account-manager', 'password_file', 'auth-file'],
  ['account-manager', 'htpasswd_file', 'auth-file'],
  ['account-manager', 'htdigest_file', 'auth-file'],
  ['gitweb-repositories', 'projects_list', 'repository'],
  ['gitweb-repositories', 'projects_base', 'repository'],
  ['trac', 'repository_dir', 'repository'],
]

/**
 * Lists what lies outside the env. `repositoryDirs` are the `dir` values of the `repository` table (the
 * caller reads them from the database when it can).
 */
export async function externalDependencies(
  env: TracEnvironment,
  repositoryDirs: string[] = [],
): Promise<ExternalDependency[]> {
  const found = new Map<string, ExternalDependency>()
  const add = async (kind: DependencyKind, source: string, path: string) => {
    const abs = resolve(env.path, path)
    if (await sameOrInside(abs, env.path)) return
    if (!found.has(abs)) found.set(abs, {kind, source, path: abs, exists: existsSync(abs)})
  }
  for (const parent of env.config.parents) await add('inherited-config', '[inherit] file', parent)
  for (const [section, key, kind] of pathOptions) {
    const path = env.config.path(section, key)
    if (path) await add(kind, `[${section}] ${key}`, path)
  }
  for (const [key, value] of env.config.section('repositories')) {
    if (key.endsWith('.dir') && value.trim()) await add('repository', `[repositories] ${key}`, value.trim())
  }
  for (const dir of repositoryDirs) await add('repository', 'repository table', dir)
  const sqlite = env.sqlitePath
  if (sqlite) await add('database', '[trac] database', sqlite)
  const logFile = env.config.get('logging', 'log_file')?.trim()
  if (logFile && isAbsolute(logFile)) await add('log', '[logging] log_file', logFile)
  for (const ext of splitList(env.config.get('sqlite', 'extensions'))) {
    await add('extension', '[sqlite] extensions', resolve(env.path, ext))
  }
  return [...found.values()]
}
