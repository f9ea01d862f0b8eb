import {spawn, spawnSync} from 'node:child_process'
import {Flags} from '@bkcli/core/oclif'
import {BkError, isBkError, messageOf} from '../errors.js'
import {onInterrupt} from '../safety/interrupt.js'
import {redactText} from '../ui/redact.js'

/** How a hook command runs: its environment, folder, label in messages, quietness. */
export interface HookOptions {
  /** Added to the inherited environment. */
  env?: Record<string, string | undefined>
  cwd?: string
  /** Names the hook in messages: 'pre-command', 'post-command'. */
  label: string
  /** Capture the hook's output instead of passing it to stderr; it is printed to stderr only if the hook fails. */
  quiet?: boolean
}

const KEEP_OUTPUT = 64 * 1024

function failure(label: string, command: string, code: number | null, signal: NodeJS.Signals | null): BkError {
  const how = signal ? `killed by ${signal}` : `exit ${code}`
  return new BkError(`${label} failed (${how}): ${command}`, {code: 'EHOOK', exit: 1})
}

/**
 * Run a user's shell command through `/bin/sh -c`. Its stdout and stderr both go to our stderr (stdout stays
 * clean for --json), or are captured with `quiet`. A non-zero exit is a BkError "<label> failed (exit N): <command>".
 */
export function runHook(command: string, options: HookOptions): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: {...process.env, ...options.env},
      stdio: options.quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', process.stderr, process.stderr],
    })
    let captured = ''
    const keep = (chunk: Buffer) => {
      captured = (captured + chunk.toString('utf8')).slice(-KEEP_OUTPUT)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('error', (error) =>
      reject(new BkError(`${options.label} could not be started: ${messageOf(error)}`, {code: 'EHOOK', cause: error})),
    )
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise()
      if (options.quiet && captured) process.stderr.write(captured.endsWith('\n') ? captured : `${captured}\n`)
      reject(failure(options.label, command, code, signal))
    })
  })
}

/** The pre- and post-commands around an operation (`--pre-command`, `--post-command`). */
export interface Hooks {
  /** Run first, in order; if one fails the operation is not run (the post-commands still run, with BK_STATUS=failed). */
  pre?: string | string[]
  /** Run afterwards in order whatever the outcome, with BK_STATUS=ok|failed and BK_ERROR (on failure) in their environment. */
  post?: string | string[]
  /** Extra environment for both hooks (e.g. BK_TARGET). */
  env?: Record<string, string | undefined>
  cwd?: string
  quiet?: boolean
}

/**
 * Run `fn` between the pre- and post-command. A failing pre-command aborts (fn is not run). The post-command
 * always runs — also after a failure and on SIGINT/SIGTERM — because it often undoes the pre-command (an
 * unmount, a service start). A failing post-command after a success is an error naming the hook; after a
 * failure the original error wins and the post-command failure is added to its message.
 */
export async function withHooks<T>(hooks: Hooks, fn: () => Promise<T>): Promise<T> {
  const base = {env: hooks.env, cwd: hooks.cwd, quiet: hooks.quiet}
  const pres = listOf(hooks.pre)
  const posts = listOf(hooks.post)
  // On a signal the operation dies with the process: run the post-commands synchronously before exiting.
  const unregister =
    posts.length > 0
      ? onInterrupt(() => {
          for (const post of posts) {
            spawnSync('/bin/sh', ['-c', post], {
              cwd: hooks.cwd,
              env: {...process.env, ...hooks.env, BK_STATUS: 'failed', BK_ERROR: 'interrupted'},
              stdio: ['ignore', process.stderr, process.stderr],
            })
          }
        })
      : () => {}
  let failed: unknown
  let ok = false
  let result: T | undefined
  try {
    for (const pre of pres) await runHook(pre, {...base, label: 'pre-command'})
    result = await fn()
    ok = true
  } catch (error) {
    failed = error
  }
  unregister()
  const status = ok ? {BK_STATUS: 'ok'} : {BK_STATUS: 'failed', BK_ERROR: oneLine(messageOf(failed))}
  let postFailure: unknown
  // Every post-command runs even when an earlier one failed: each may undo a different pre-command.
  for (const post of posts) {
    try {
      await runHook(post, {...base, env: {...hooks.env, ...status}, label: 'post-command'})
    } catch (error) {
      postFailure ??= error
    }
  }
  if (!ok) throw postFailure ? withMention(failed, messageOf(postFailure)) : failed
  if (postFailure) throw postFailure
  return result as T
}

function listOf(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value : value ? [value] : []).filter((c) => c.trim() !== '')
}

/** The first line, URL passwords masked: the hook may log it. */
function oneLine(text: string): string {
  return redactText(text.split('\n')[0] ?? '')
}

/** The original error, its message extended with "; also: <what else failed>". */
function withMention(error: unknown, mention: string): unknown {
  const message = `${messageOf(error)}; also: ${mention}`
  if (isBkError(error)) return new BkError(message, {exit: error.exit, code: error.code, cause: error})
  if (error instanceof Error) {
    error.message = message
    return error
  }
  return new BkError(message)
}

/** `--pre-command` and `--post-command`, the same on every command that has hooks. */
export const hookFlags = {
  'pre-command': Flags.string({
    description:
      'Shell command run before the operation (repeatable, run in order); the operation is aborted if one fails.',
    multiple: true,
    helpGroup: 'HOOKS',
  }),
  'post-command': Flags.string({
    description:
      'Shell command run afterwards whatever the outcome (repeatable), with BK_STATUS=ok|failed (and BK_ERROR) in its environment.',
    multiple: true,
    helpGroup: 'HOOKS',
  }),
}

/** The Hooks of parsed `hookFlags`. */
export function hooksFromFlags(flags: {'pre-command'?: string | string[]; 'post-command'?: string | string[]}): Hooks {
  const given = (v: string | string[] | undefined) => (listOf(v).length > 0 ? v : undefined)
  return {pre: given(flags['pre-command']), post: given(flags['post-command'])}
}
