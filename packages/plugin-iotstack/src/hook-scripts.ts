import {lstat} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '@bkcli/core'
import {execa} from 'execa'

/**
 * IOTstack's hook scripts in the stack root (`pre_backup.sh`, `post_backup.sh`, `post_restore.sh`), run as
 * IOTstack runs them: `bash ./<hook>` from the stack root, output into the run's log. Unlike IOTstack, the exit
 * status counts: a failing hook is an error naming the hook and its exit code.
 */
export type StackHook = 'pre_backup.sh' | 'post_backup.sh' | 'post_restore.sh'

export interface HookRun {
  hook: StackHook
  ran: boolean
}

export async function runStackHook(
  dir: string,
  hook: StackHook,
  options: {logFile?: string; env?: Record<string, string>} = {},
): Promise<HookRun> {
  const stat = await lstat(join(dir, hook)).catch(() => undefined)
  if (!stat) return {hook, ran: false}
  const out = options.logFile ? {file: options.logFile, append: true} : 'ignore'
  const result = await execa('bash', [`./${hook}`], {
    cwd: dir,
    env: {...process.env, ...options.env},
    stdin: 'ignore',
    stdout: out,
    stderr: out,
    reject: false,
  })
  if (result.exitCode !== 0) {
    const why = result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`
    throw new BkError(`${hook} failed (${why}); see its output in the log`, {code: 'EHOOK'})
  }
  return {hook, ran: true}
}
