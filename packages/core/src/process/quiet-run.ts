import {spawn} from 'node:child_process'
import {open} from 'node:fs/promises'
import {basename} from 'node:path'
import {BkError} from '../errors.js'

/** How a quiet run goes: folder, environment added to bk's, and where its output goes (nowhere, or a log). */
export interface QuietRunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv | Record<string, string | undefined>
  /** Both output streams are appended to this file; without it they are discarded. */
  logFile?: string
  /** Name in messages (default: the file's basename). */
  label?: string
}

/**
 * Runs a program to its end with Node's own child_process, its output discarded or appended to a log (IOTstack's
 * Docker Compose probe and hook scripts, on every backup and restore). runTool does the same through execa, about a
 * hundred modules to load: a command that runs nothing else does not pay for them. Fails as runTool does: a BkError
 * `<label> not found (<file>)…` (ENOTOOL) when the program is missing, `<label> failed (exit N)` or
 * `(killed by SIG…)` (ETOOL) otherwise.
 */
export async function runQuiet(file: string, args: readonly string[], options: QuietRunOptions = {}): Promise<void> {
  const label = options.label ?? basename(file)
  const log = options.logFile ? await open(options.logFile, 'a') : undefined
  try {
    const out = log ? log.fd : 'ignore'
    const how = await new Promise<string | undefined>((resolve, reject) => {
      const child = spawn(file, args, {
        cwd: options.cwd,
        env: {...process.env, ...options.env},
        stdio: ['ignore', out, out],
      })
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' && child.pid === undefined) {
          reject(new BkError(`${label} not found (${file}); install it or give its path`, {code: 'ENOTOOL'}))
        } else resolve(error.code ?? 'could not run')
      })
      child.once('close', (code, signal) => {
        resolve(code === 0 ? undefined : signal ? `killed by ${signal}` : `exit ${code}`)
      })
    })
    if (how !== undefined) throw new BkError(`${label} failed (${how})`, {code: 'ETOOL'})
  } finally {
    await log?.close()
  }
}
