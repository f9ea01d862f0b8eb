import {BkError, isBkError, messageOf} from '../errors.js'

const CORRUPT_CODES = new Set(['Z_DATA_ERROR', 'Z_BUF_ERROR', 'TAR_BAD_ARCHIVE', 'TAR_ENTRY_INVALID', 'TAR_ABORT'])

/** Short, one-line description of a decompressor/tar failure (execa errors carry the tool's stderr). */
function describe(error: unknown): string {
  const e = error as {stderr?: unknown; shortMessage?: string; message?: string}
  if (typeof e.stderr === 'string' && e.stderr.trim()) {
    const lines = e.stderr.trim().split('\n')
    return `zstd: ${lines[lines.length - 1]?.trim()}`
  }
  return (e.message ?? messageOf(error)).split('\n')[0] ?? ''
}

/** Turn a failure while reading `file` into a one-line BkError. */
export function readError(file: string, error: unknown): BkError {
  if (isBkError(error)) return error
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' && (error as NodeJS.ErrnoException).path === file)
    return new BkError(`archive ${file} not found`, {cause: error, code: 'ENOENT'})
  if (code === 'EACCES') return new BkError(`cannot read archive ${file}: permission denied`, {cause: error})
  const fromZstd = typeof (error as {command?: unknown}).command === 'string'
  if (
    fromZstd ||
    (code && CORRUPT_CODES.has(code)) ||
    /unexpected end|incorrect header|invalid|checksum/i.test(describe(error))
  )
    return new BkError(`archive ${file} is corrupt or truncated: ${describe(error)}`, {cause: error, code: 'ECORRUPT'})
  return new BkError(`cannot read archive ${file}: ${describe(error)}`, {cause: error})
}
