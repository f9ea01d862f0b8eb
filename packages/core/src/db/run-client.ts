import type {ResultPromise} from 'execa'
import {BkError} from '../errors.js'
import {dbFailure, oneLine} from './failure.js'
import {
  type ClientTool,
  findClientTool,
  mysqlChildEnv,
  mysqlConnectionArgs,
  mysqlSecret,
  pgChildEnv,
  pgConnectionArgs,
  type SecretChannel,
} from './tools.js'
import type {DbTarget} from './url.js'

export interface ClientRunOptions {
  tool: ClientTool
  target: DbTarget
  /** Arguments after the connection ones. */
  args: string[]
  clientPath?: string
  stdin: 'pipe' | 'ignore'
  stdout: 'pipe' | 'ignore' | number
  /** mysql tools: how the options file travels (default 'fd'). */
  secretChannel?: SecretChannel
  /** Called with the pid once the client runs (tests read its /proc/<pid>/cmdline). */
  onSpawn?: (pid: number) => void
}

export interface ClientRun {
  subprocess: ResultPromise
  /** Path of the temp options file, if one was written (removed by finish). */
  secretFile?: string
  /** Wait for the client; a non-zero exit becomes a one-line BkError. Removes any temp options file. */
  finish(what: string, database?: string): Promise<void>
}

/** Start pg_dump / psql / mysqldump / mysql with the password outside argv. */
export async function startClient(options: ClientRunOptions): Promise<ClientRun> {
  const {tool, target} = options
  const file = await findClientTool(tool, options.clientPath)
  const isPg = tool === 'pg_dump' || tool === 'psql'
  const secret = isPg ? undefined : await mysqlSecret(target, options.secretChannel)
  const args = isPg
    ? [...pgConnectionArgs(target), ...options.args]
    : [secret!.arg, ...mysqlConnectionArgs(target), ...options.args] // --defaults-file must come first
  const env = isPg ? pgChildEnv(target) : mysqlChildEnv()
  const stdio: unknown[] = [options.stdin, options.stdout, 'pipe']
  if (secret?.fd3 !== undefined) stdio.push(secret.fd3)
  let subprocess: ResultPromise
  const {execa} = await import('execa') // on first use: most commands run no database client
  try {
    subprocess = execa(file, args, {
      stdio: stdio as never,
      env,
      extendEnv: true,
      reject: false,
      buffer: {stdout: false, stderr: true},
      maxBuffer: {stderr: 1024 * 1024},
      stripFinalNewline: true,
    })
  } catch (error) {
    await secret?.cleanup()
    throw error
  }
  if (subprocess.pid !== undefined) options.onSpawn?.(subprocess.pid)
  return {
    subprocess,
    secretFile: secret?.file,
    async finish(what: string, database?: string) {
      try {
        const result = await subprocess
        if (result.failed || result.exitCode !== 0) {
          throw clientFailure(tool, target, what, String(result.stderr ?? ''), result, database)
        }
      } finally {
        await secret?.cleanup()
      }
    },
  }
}

function clientFailure(
  tool: ClientTool,
  target: DbTarget,
  what: string,
  stderr: string,
  result: {exitCode?: number; signal?: string; originalMessage?: string; code?: string},
  database?: string,
): BkError {
  if (result.code === 'ENOENT') {
    return new BkError(`${tool} could not be started (${result.originalMessage ?? 'not found'})`, {code: 'ENOTOOL'})
  }
  const message = importantLines(stderr)
  const failure = dbFailure(target, {message}, {database})
  if (failure.code !== 'EDB') return failure
  const how = result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`
  return new BkError(`${what} failed: ${tool} ${how}: ${message || '(no message)'}`, {code: 'EDBTOOL'})
}

/** The lines that say what went wrong (errors first, without psql's `psql:<stdin>:12:` prefixes). */
function importantLines(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.trim())
  const errors = lines.filter((line) => /error|fatal|failed|denied|unknown/i.test(line) && !/^\s*warning/i.test(line))
  const chosen = errors.length ? errors.slice(0, 2) : lines.slice(-2)
  return oneLine(chosen.map((line) => line.replace(/^psql:[^:]*:\d+:\s*/, '')).join('\n'))
}
