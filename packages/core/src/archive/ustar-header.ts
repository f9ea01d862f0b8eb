/**
 * The ustar header of a plain member (a short ASCII name, numbers that fit their octal fields), written here with
 * exactly the bytes node-tar's Header.encode writes for it: a command that prepends a member or writes a manifest
 * member then need not load node-tar (tens of milliseconds of each run). Anything else (a long or non-ASCII name,
 * a number past its field, a date before 1970) is undefined: the caller asks node-tar.
 */

const BLOCK = 512
/** The largest number a NUL-terminated octal field of this size holds (node-tar's limit: past it, base-256). */
const MAX = {8: 0o7777777, 12: 0o77777777777} as const

export interface PlainHeaderFields {
  mode: number
  uid: number
  gid: number
  size: number
  mtime: Date
  type: 'File' | 'Directory'
}

/** The header block of `name`, as node-tar encodes it; undefined when node-tar must (see above). */
export function plainHeaderBlock(name: string, fields: PlainHeaderFields): Buffer | undefined {
  // node-tar splits a name of 100 bytes or more into its prefix field
  if (name.length === 0 || name.length >= 100 || !/^[\x20-\x7e]+$/.test(name)) return undefined
  const seconds = fields.mtime.getTime() / 1000
  const numbers: [number, 8 | 12, number][] = [
    [100, 8, fields.mode],
    [108, 8, fields.uid],
    [116, 8, fields.gid],
    [124, 12, fields.size],
    [136, 12, seconds],
  ]
  for (const [, size, value] of numbers) if (!(value >= 0 && value <= MAX[size])) return undefined
  const block = Buffer.alloc(BLOCK)
  block.write(name, 0, 'latin1')
  for (const [at, size, value] of numbers) block.write(octal(value, size), at, size, 'latin1')
  block[156] = fields.type === 'File' ? 0x30 : 0x35
  block.write('ustar\u000000', 257, 8, 'latin1')
  // device numbers: node-tar writes zeros for every type
  block.write(octal(0, 8), 329, 8, 'latin1')
  block.write(octal(0, 8), 337, 8, 'latin1')
  let sum = 8 * 0x20 // the checksum field counts as spaces
  for (let i = 0; i < 148; i++) sum += block[i] as number
  for (let i = 156; i < BLOCK; i++) sum += block[i] as number
  block.write(octal(sum, 8), 148, 8, 'latin1')
  return block
}

/** node-tar's octal field: digits zero-padded to the field's size less two, a space and a NUL; or, when the digits
 * take all but one byte, the digits and a NUL. */
function octal(value: number, size: number): string {
  const digits = Math.floor(value).toString(8)
  return digits.length === size - 1 ? `${digits}\0` : `${digits.padStart(size - 2, '0')} \0`
}
