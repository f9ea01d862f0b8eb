/**
 * A failure the user can act on: rendered as one line ("bk: <message>"), no stack unless --verbose.
 * `exit` is the process exit code (default 1). Anything that is not a BkError is a bug and shows its stack
 * with --verbose.
 */
export class BkError extends Error {
  readonly exit: number
  readonly code: string
  constructor(message: string, options: {exit?: number; code?: string; cause?: unknown} = {}) {
    super(message, {cause: options.cause})
    this.name = 'BkError'
    this.exit = options.exit ?? 1
    this.code = options.code ?? 'EBK'
  }
}

/** Whether `error` is a BkError (also one from another copy of core). */
export function isBkError(error: unknown): error is BkError {
  return error instanceof BkError
}

/** Message of any thrown value, for wrapping into a one-line BkError. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
