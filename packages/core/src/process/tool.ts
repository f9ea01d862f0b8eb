import {spawnSync} from 'node:child_process'
import {basename} from 'node:path'
import {Readable, type Writable} from 'node:stream'
import type {Options, ResultPromise} from 'execa'
import {BkError} from '../errors.js'
import {type PlainOutput, runPlain} from './plain-run.js'

/** What an extra file descriptor of a child gets: data, a stream, a pipe or nothing. */
export type ExtraFd = string | Uint8Array | Readable | 'pipe' | 'ignore'

/** How a tool runs: folder, environment, secrets (never in argv), stdin, extra fds, output. */
export interface ToolOptions {
  cwd?: string
  /** Added to the inherited environment. */
  env?: Record<string, string | undefined>
  /** Like env, for secrets (PGPASSWORD, MYSQL_PWD): never in argv, never in messages (values are masked in stderr lines). */
  secretEnv?: Record<string, string | undefined>
  /** Data for stdin: a string/bytes, or a stream (piped). */
  input?: string | Uint8Array | Readable
  /** A file to stream into stdin. */
  inputFile?: string
  /** Where stdout goes: 'pipe' (default: returned), 'inherit', 'ignore', a file ({file}) or a stream. */
  stdout?: 'pipe' | 'inherit' | 'ignore' | {file: string; append?: boolean} | Writable
  /** Where stderr goes: 'pipe' (default: its last line goes into the failure message), 'ignore', or a file (a log). */
  stderr?: 'pipe' | 'ignore' | {file: string; append?: boolean}
  /**
   * Inputs on fds 3, 4…: text, bytes or a stream. Node hands them over as a socket, not a pipe: a child can
   * read the fd (`<&3`), but opening `/dev/fd/3` by path fails with ENXIO — for a client that opens a path
   * (mysql --defaults-extra-file) use a 0600 temp file or a FIFO instead.
   */
  extraFds?: ExtraFd[]
  /** Exit codes that are not failures (default [0]). */
  okExitCodes?: number[]
  /** Name used in messages (default: the file's basename). */
  label?: string
  timeout?: number
}

/** A finished tool's exit code and output. */
export interface ToolResult {
  exitCode: number
  stdout: string
  stderr: string
}

function secretsOf(options: ToolOptions): string[] {
  return Object.values(options.secretEnv ?? {}).filter((v): v is string => typeof v === 'string' && v.length >= 3)
}

function mask(text: string, secrets: string[]): string {
  let out = text
  for (const secret of secrets) out = out.split(secret).join('***')
  return out
}

/** The last non-empty line of a tool's stderr, secrets masked. */
export function lastLine(text: string, secrets: string[] = []): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim())
  const last = lines.filter((l) => l.length > 0).pop() ?? ''
  return mask(last, secrets)
}

function extraFd(fd: ExtraFd): unknown {
  if (typeof fd === 'string' && (fd === 'pipe' || fd === 'ignore')) return fd
  if (typeof fd === 'string') return new TextEncoder().encode(fd)
  if (fd instanceof Uint8Array) return fd
  return Readable.toWeb(fd) // execa takes a Node stream only when it has a file descriptor
}

function execaOptions(options: ToolOptions, streamStdout: boolean): Options {
  const stdin = options.inputFile ? {file: options.inputFile} : options.input !== undefined ? 'pipe' : 'ignore'
  const stdio = [stdin, options.stdout ?? 'pipe', options.stderr ?? 'pipe', ...(options.extraFds ?? []).map(extraFd)]
  return {
    cwd: options.cwd,
    env: {...options.env, ...options.secretEnv},
    extendEnv: true,
    ...(options.input !== undefined && !options.inputFile ? {input: options.input} : {}),
    stdio: stdio as unknown as Options['stdio'],
    reject: false,
    // A piped stdout that the caller consumes as a stream must not also be collected in memory.
    buffer: {stdout: !streamStdout, stderr: true},
    maxBuffer: {stderr: 1024 * 1024},
    stripFinalNewline: false,
    timeout: options.timeout,
  } as Options
}

/**
 * Start a tool without waiting, for piping (`child.stdout.pipe(...)`); `done` settles like runTool.
 * The subprocess's own stdout is a stream when `stdout` is 'pipe', and is not collected into `done`'s result.
 */
export function startTool(
  file: string,
  args: readonly string[],
  options: ToolOptions = {},
): Promise<{child: ResultPromise; done: Promise<ToolResult>}> {
  return launch(file, args, options, true)
}

/** How a run ended, whichever runner ran it. */
interface Ending {
  exitCode?: number
  signal?: string
  /** errno of a start failure. */
  code?: string
  stdout: string
  stderr: string
  timedOut?: boolean
}

/** A run's ToolResult, or the one-line BkError: ENOTOOL for a missing program, ETOOL for any other failure. */
function settle(file: string, options: ToolOptions, ending: Ending): ToolResult {
  const label = options.label ?? basename(file)
  const {exitCode, signal, code, stdout, stderr} = ending
  const ok = options.okExitCodes ?? [0]
  if (exitCode !== undefined && ok.includes(exitCode) && !ending.timedOut) return {exitCode, stdout, stderr}
  if (exitCode === undefined && !signal && code === 'ENOENT')
    throw new BkError(`${label} not found (${file}); install it or give its path`, {code: 'ENOTOOL'})
  const how = ending.timedOut
    ? 'timed out'
    : signal
      ? `killed by ${signal}`
      : exitCode !== undefined
        ? `exit ${exitCode}`
        : (code ?? 'could not run')
  const detail = lastLine(stderr, secretsOf(options))
  throw new BkError(`${label} failed (${how})${detail ? `: ${detail}` : ''}`, {code: 'ETOOL'})
}

/** True when Node's own spawn can run it: nothing to feed (input, extra fds), no timeout, output not a stream. */
function plainRunnable(options: ToolOptions): boolean {
  const plainOut = (out: ToolOptions['stdout']) => out === undefined || typeof out === 'string' || 'file' in out
  return (
    options.input === undefined &&
    options.inputFile === undefined &&
    !options.extraFds?.length &&
    options.timeout === undefined &&
    plainOut(options.stdout)
  )
}

async function launch(
  file: string,
  args: readonly string[],
  options: ToolOptions,
  streamStdout: boolean,
): Promise<{child: ResultPromise; done: Promise<ToolResult>}> {
  // loaded on first use: execa is ~100 modules, and most commands never run a tool
  const {execa} = await import('execa')
  const child = execa(file, args, execaOptions(options, streamStdout)) as ResultPromise
  const done = (async () => {
    const result = (await child) as unknown as {
      exitCode?: number
      signal?: string
      code?: string
      stdout?: unknown
      stderr?: unknown
      timedOut?: boolean
      cause?: unknown
    }
    const cause = result.cause as NodeJS.ErrnoException | undefined
    return settle(file, options, {
      exitCode: result.exitCode,
      signal: result.signal,
      code: result.code === 'ENOENT' ? 'ENOENT' : (cause?.code ?? result.code),
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      stderr: typeof result.stderr === 'string' ? result.stderr : '',
      timedOut: result.timedOut,
    })
  })()
  return {child, done}
}

/**
 * Run an external tool (pg_dump, mysql, docker…) to its end. The environment is never printed; secrets go
 * through `secretEnv`, never argv. A failure becomes one BkError line: "<tool> failed (exit N): <last stderr line>".
 * A run with nothing to feed and no timeout goes through Node's own spawn (runPlain); the others load execa.
 */
export async function runTool(file: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  if (!plainRunnable(options)) return (await launch(file, args, options, false)).done
  const ending = await runPlain(file, args, {
    cwd: options.cwd,
    env: {...options.env, ...options.secretEnv},
    stdout: (options.stdout ?? 'pipe') as PlainOutput,
    stderr: options.stderr ?? 'pipe',
  })
  return settle(file, options, ending)
}

/**
 * Run a tool to its end synchronously, for a cleanup in a signal handler (see onInterrupt: the process is about to
 * exit, nothing asynchronous runs any more), e.g. bringing a stopped service back. stdin and stdout are ignored,
 * stderr goes to bk's stderr. Returns the exit code, or undefined when it could not start, was killed or timed out;
 * it never throws.
 */
export function runToolSync(
  file: string,
  args: readonly string[],
  options: Pick<ToolOptions, 'cwd' | 'env' | 'timeout'> = {},
): number | undefined {
  // node's own spawnSync: a signal handler cannot wait for execa to load
  const result = spawnSync(file, args, {
    cwd: options.cwd,
    env: {...process.env, ...options.env},
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: options.timeout,
  })
  return result.error || result.signal !== null || result.status === null ? undefined : result.status
}
