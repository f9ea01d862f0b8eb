/**
 * Replacing text inside PHP-serialized values without breaking them: `s:23:"sites/example.com/files";` carries
 * the byte length of its string, which must change with it. Works on "byte strings" (latin1: one char per
 * byte), so lengths are byte lengths whatever the text's encoding (é, 🚀 count 2 and 4).
 */
export type Replacer = (plain: string) => string

const STRING_HEADER = /s:(\d+):"/g

/**
 * Rewrites every serialized string `s:N:"…";` found in `value` (recursively: a serialized string may itself hold
 * serialized data) with `replace`, fixing N; the text between them (and a value that is not serialized at all)
 * goes through `replace` as it is.
 */
export function rewriteSerialized(value: string, replace: Replacer): string {
  let out = ''
  let pos = 0
  const re = new RegExp(STRING_HEADER.source, 'g')
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const length = Number(m[1])
    const contentStart = m.index + m[0].length
    const contentEnd = contentStart + length
    if (contentEnd + 2 > value.length || value[contentEnd] !== '"' || value[contentEnd + 1] !== ';') {
      re.lastIndex = m.index + 1
      continue
    }
    const content = rewriteSerialized(value.slice(contentStart, contentEnd), replace)
    out += replace(value.slice(pos, m.index)) + `s:${content.length}:"${content}";`
    pos = contentEnd + 2
    re.lastIndex = pos
  }
  return out + replace(value.slice(pos))
}

/** A UTF-8 string as a byte string (latin1), to compare and build with the byte strings above. */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1')
}

export function fromByteString(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8')
}
