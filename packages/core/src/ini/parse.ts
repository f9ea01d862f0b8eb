/**
 * The line model of an INI file and a reader that follows Python's configparser (3.x, defaults):
 * - `[section]` headers (section names are case-sensitive; `DEFAULT` holds defaults for every section);
 * - `key = value` or `key: value`, split at the first `=` or `:`; keys lower-cased; values stripped;
 * - whole-line comments starting with `#` or `;` (also indented), no inline comments;
 * - a line indented deeper than its option's line continues the value (joined with '\n'); blank lines inside
 *   a value are kept, trailing ones dropped; comment lines inside a value are skipped;
 * - duplicate sections merge and a repeated option wins (non-strict reading: bk only reads what the app wrote).
 */

export interface IniLine {
  text: string
  /** The line's own ending ('\n', '\r\n', '\r', or '' for a last line without one). */
  eol: string
}

export interface IniOption {
  /** Lower-cased. */
  key: string
  /** As written in the file. */
  rawKey: string
  /** The value before interpolation. */
  value: string
  /** Index of the `key = value` line and of its last continuation line. */
  line: number
  lastLine: number
}

export interface IniSection {
  name: string
  /** Header line of each block of this section (a section may appear twice). */
  headers: number[]
  options: Map<string, IniOption>
  /** Last line belonging to the section's last block (its last option value line, or its header). */
  lastLine: number
}

export interface IniIndex {
  sections: Map<string, IniSection>
  defaults?: IniSection
}

export class IniSyntaxError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly lineText: string,
    readonly reason: string,
  ) {
    super(`line ${lineNumber}: ${reason}: ${JSON.stringify(lineText)}`)
  }
}

/** The section whose keys every other section inherits (Python configparser's `DEFAULT`). */
export const DEFAULT_SECTION = 'DEFAULT'

/** Split text into lines keeping each line's ending, so that joining them gives back the same bytes. */
export function splitLines(text: string): IniLine[] {
  const lines: IniLine[] = []
  const re = /([^\r\n]*)(\r\n|\n|\r|$)/g
  let pos = 0
  while (pos < text.length) {
    re.lastIndex = pos
    const match = re.exec(text)
    if (!match) break
    lines.push({text: match[1] ?? '', eol: match[2] ?? ''})
    pos = re.lastIndex
  }
  return lines
}

const SECTION = /^\[(.+)\]/
const OPTION = /^(.*?)\s*([=:])\s*(.*)$/

export function isCommentText(text: string): boolean {
  const stripped = text.trim()
  return stripped.startsWith('#') || stripped.startsWith(';')
}

/** Index sections and options of the lines, configparser's way. Throws IniSyntaxError. */
export function indexLines(lines: readonly IniLine[]): IniIndex {
  const sections = new Map<string, IniSection>()
  let defaults: IniSection | undefined
  let current: IniSection | undefined
  let option: IniOption | undefined
  let parts: string[] = []
  let indentLevel = 0
  const finish = () => {
    if (option) option.value = parts.join('\n').trimEnd()
  }
  lines.forEach((entry, i) => {
    const text = i === 0 ? entry.text.replace(/^\uFEFF/, '') : entry.text
    const comment = isCommentText(text)
    const value = comment ? '' : text.trim()
    if (!value) {
      if (!comment && option) parts.push('')
      return
    }
    const indent = text.search(/\S/)
    if (current && option && indent > indentLevel) {
      parts.push(value)
      option.lastLine = i
      current.lastLine = i
      return
    }
    indentLevel = indent
    const header = SECTION.exec(value)
    if (header) {
      finish()
      option = undefined
      const name = header[1] as string
      let section = name === DEFAULT_SECTION ? defaults : sections.get(name)
      if (!section) {
        section = {name, headers: [], options: new Map(), lastLine: i}
        if (name === DEFAULT_SECTION) defaults = section
        else sections.set(name, section)
      }
      section.headers.push(i)
      section.lastLine = i
      current = section
      return
    }
    if (!current) throw new IniSyntaxError(i + 1, entry.text, 'text before the first [section]')
    const match = OPTION.exec(value)
    const rawKey = match?.[1]?.trimEnd()
    if (!match || !rawKey) throw new IniSyntaxError(i + 1, entry.text, 'not a "key = value" line')
    finish()
    option = {key: rawKey.toLowerCase(), rawKey, value: '', line: i, lastLine: i}
    parts = [(match[3] ?? '').trim()]
    current.options.set(option.key, option)
    current.lastLine = i
  })
  finish()
  return {sections, defaults}
}
