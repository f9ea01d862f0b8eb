import {lstat} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError, isBkError, messageOf} from '@bkcli/core/errors'
import {runTool} from '@bkcli/core/process'

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
  try {
    const log = options.logFile ? {file: options.logFile, append: true} : undefined
    await runTool('bash', [`./${hook}`], {
      cwd: dir,
      env: options.env,
      stdout: log ?? 'ignore',
      stderr: log ?? 'pipe',
      label: hook,
    })
  } catch (error) {
    if (!isBkError(error) || error.code !== 'ETOOL') throw error
    throw new BkError(`${messageOf(error)}; see its output in the log`, {code: 'EHOOK'})
  }
  return {hook, ran: true}
}
