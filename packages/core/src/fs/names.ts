import {readdirSync} from 'node:fs'
import {BkError} from '../errors.js'

/**
 * File names that are not valid UTF-8 (an old Latin-1 name such as `caf\xe8`) are refused wherever bk lists a tree
 * to back up, copy or describe in a manifest: readdir as strings gives U+FFFD for their bytes, so two such names
 * came out as one path, named no file, and a manifest recorded one file's digest under another's name. Refused
 * before anything is written, with the path's bytes escaped, so the user can rename it (e.g. with convmv).
 */

const strict = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true})

/** Whether `bytes` are valid UTF-8 (what a string name round-trips to). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strict.decode(bytes)
    return true
  } catch {
    return false
  }
}

/** `bytes` for a message: valid UTF-8 as it is, each other byte as \xNN (e.g. `caf\xe8`). */
export function escapedName(bytes: Uint8Array): string {
  let out = ''
  let i = 0
  while (i < bytes.length) {
    const lead = bytes[i] as number
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : 4
    const piece = bytes.subarray(i, i + length)
    if (lead < 0xf5 && piece.length === length && isUtf8(piece)) {
      out += strict.decode(piece)
      i += length
    } else {
      out += `\\x${lead.toString(16).padStart(2, '0')}`
      i++
    }
  }
  return out
}

/** The one-line refusal of `path` (absolute, as bytes): not valid UTF-8, and what to do. */
export function notUtf8Error(path: Uint8Array): BkError {
  return new BkError(
    `${escapedName(path)}: the file name is not valid UTF-8, which bk cannot record in a manifest; rename it ` +
      '(e.g. convmv -f latin1 -t utf8 --notest) and run again',
    {code: 'ENOTUTF8'},
  )
}

/**
 * Throws notUtf8Error for the first name of folder `dir` that is not valid UTF-8, given its listing as strings
 * (`names`): only when a name holds U+FFFD, what such a name is listed as, is the folder listed again as bytes.
 */
export function refuseNotUtf8(dir: string, names: readonly string[]): void {
  if (!names.some((name) => name.includes('\uFFFD'))) return
  for (const raw of readdirSync(dir, {encoding: 'buffer'})) {
    if (!isUtf8(raw)) throw notUtf8Error(Buffer.concat([Buffer.from(dir.endsWith('/') ? dir : `${dir}/`), raw]))
  }
}
