import {join} from 'node:path'
import {checkResult} from '@bkcli/core'
import {execa} from 'execa'
import {repoRoot} from './paths.js'
import {tempDir} from './tmp.js'

export interface CliResult {
  exitCode: number
  /** The signal that ended bk ('SIGKILL' after a BK_CRASH_AT crash point), if any. */
  signal?: string
  stdout: string
  stderr: string
  /** The --json document, checked against its kind's committed schema (throws naming what does not match). */
  json<T = unknown>(): T
}

// One lock folder per test process: two bk runs of one test meet on the same locks, other tests' runs do not.
let lockDir: string | undefined
function testLockDir(): string {
  lockDir ??= tempDir('bk-locks-')
  return lockDir
}

export interface RunBkOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  input?: string
  /** Load the workspace plugins (default true). false: a bk with no plugin installed. */
  plugins?: boolean
}

/** Run the built `bk` binary (apps/bk/bin/run.js) as a user would, capturing output and exit code. */
export async function runBk(args: string[], options: RunBkOptions = {}): Promise<CliResult> {
  const root = repoRoot()
  const dataDir =
    options.env?.BK_DATA_DIR ?? (options.plugins === false ? tempDir('bk-nodata-') : join(root, '.bk-dev'))
  const result = await execa(process.execPath, [join(root, 'apps/bk/bin/run.js'), ...args], {
    cwd: options.cwd ?? root,
    env: {
      // CI=true makes oclif's color detection switch colors on even into a pipe: tests compare plain text.
      NO_COLOR: '1',
      FORCE_COLOR: '0',
      BK_DATA_DIR: dataDir,
      BK_CONFIG_DIR: tempDir('bk-config-'),
      BK_CACHE_DIR: tempDir('bk-cache-'),
      BK_LOCK_DIR: testLockDir(),
      ...options.env,
    },
    input: options.input ?? '',
    reject: false,
    stripFinalNewline: false,
  })
  const stdout = String(result.stdout)
  let problems: string[] = []
  if (args.includes('--json') && stdout.trim().startsWith('{')) {
    try {
      problems = await checkResult(JSON.parse(stdout))
    } catch {
      // not JSON: json() reports it
    }
  }
  return {
    exitCode: result.exitCode ?? 1,
    signal: result.signal ?? undefined,
    stdout,
    stderr: String(result.stderr),
    json<T>() {
      if (problems.length > 0)
        throw new Error(`bk ${args.join(' ')}: --json does not match its schema: ${problems.join('; ')}`)
      return JSON.parse(stdout) as T
    },
  }
}
