import {spawn} from 'node:child_process'
import {open} from 'node:fs/promises'

/** What a finished program left: its exit (code or signal), a start failure's code, and the output kept. */
export interface PlainOutcome {
  exitCode?: number
  signal?: string
  /** errno of a program that could not start (ENOENT, EACCES…). */
  code?: string
  stdout: string
  stderr: string
}

/** Where one output stream of a plain run goes: kept as text ('pipe'), nowhere, bk's own, or a file. */
export type PlainOutput = 'pipe' | 'ignore' | 'inherit' | {file: string; append?: boolean}

/** Kept stderr is capped, as runTool's execa path caps it: a chatty program cannot fill memory. */
const MAX_STDERR = 1024 * 1024

/**
 * Runs a program to its end with Node's own child_process, stdin closed: runTool's path for a run with no input,
 * no extra descriptors and no timeout (a probe, a hook script, tar, getent). execa, about a hundred modules to load,
 * stays for the runs that stream; a command that runs nothing else does not pay for it.
 */
export async function runPlain(
  file: string,
  args: readonly string[],
  options: {cwd?: string; env?: Record<string, string | undefined>; stdout: PlainOutput; stderr: PlainOutput},
): Promise<PlainOutcome> {
  const opened: Awaited<ReturnType<typeof open>>[] = []
  const target = async (out: PlainOutput): Promise<'pipe' | 'ignore' | 'inherit' | number> => {
    if (typeof out === 'string') return out
    const handle = await open(out.file, out.append ? 'a' : 'w')
    opened.push(handle)
    return handle.fd
  }
  try {
    const stdio = ['ignore', await target(options.stdout), await target(options.stderr)] as const
    return await new Promise<PlainOutcome>((resolve) => {
      const outcome: PlainOutcome = {stdout: '', stderr: ''}
      const child = spawn(file, args, {cwd: options.cwd, env: {...process.env, ...options.env}, stdio: [...stdio]})
      child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        outcome.stdout += text
      })
      child.stderr?.setEncoding('utf8').on('data', (text: string) => {
        if (outcome.stderr.length < MAX_STDERR) outcome.stderr += text
      })
      child.once('error', (error: NodeJS.ErrnoException) => {
        // a program that could not start emits 'error' and no 'close'; one that started and failed later closes
        if (child.pid === undefined) resolve({...outcome, code: error.code ?? 'could not run'})
      })
      child.once('close', (code, signal) => {
        resolve(signal ? {...outcome, signal} : {...outcome, exitCode: code ?? undefined})
      })
    })
  } finally {
    await Promise.all(opened.map((handle) => handle.close()))
  }
}
