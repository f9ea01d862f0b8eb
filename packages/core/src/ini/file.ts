import {chown, readFile, realpath, stat, writeFile} from 'node:fs/promises'
import {BkError, messageOf} from '../errors.js'
import {atomicFile} from '../safety/atomic.js'
import {escapePercent, InterpolationError, interpolate} from './interpolate.js'
import {
  DEFAULT_SECTION,
  type IniIndex,
  type IniLine,
  type IniSection,
  IniSyntaxError,
  indexLines,
  isCommentText,
  splitLines,
} from './parse.js'

/** How an INI file is read: its interpolation. */
export interface IniOptions {
  /**
   * 'none' (default): values are raw, `%` is literal — Trac ≥ 1.5 (ConfigParser(interpolation=None)).
   * 'basic': `%(name)s` and `%%` are expanded, as Roundup's config.ini is read (BasicInterpolation with the
   * defaults HOME and TRACKER_HOME, both the tracker home: pass them in `defaults`).
   */
  interpolation?: 'none' | 'basic'
  /** Lowest-priority values for every section (configparser's `defaults`), keys case-insensitive. */
  defaults?: Record<string, string>
  /** Shown in messages. */
  path?: string
}

const BOOLEANS: Record<string, boolean> = {
  1: true,
  yes: true,
  true: true,
  on: true,
  0: false,
  no: false,
  false: false,
  off: false,
}

/**
 * A configparser-compatible INI file that can be edited without disturbing it: untouched lines, comments,
 * order and line endings stay byte for byte; `set` changes a value in place or appends it to its section.
 */
export class IniFile {
  readonly path?: string
  readonly options: IniOptions
  private lines: IniLine[]
  private index: IniIndex

  private constructor(text: string, options: IniOptions) {
    this.options = options
    this.path = options.path
    this.lines = splitLines(text)
    this.index = this.reindex()
  }

  static parse(text: string, options: IniOptions = {}): IniFile {
    return new IniFile(text, options)
  }

  /** Read a UTF-8 file (BkError when missing, not UTF-8, or not parseable). */
  static async read(path: string, options: IniOptions = {}): Promise<IniFile> {
    let bytes: Buffer
    try {
      bytes = await readFile(path)
    } catch (error) {
      throw new BkError(`cannot read ${path}: ${messageOf(error)}`, {code: 'ENOENT', cause: error})
    }
    let text: string
    try {
      text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
    } catch {
      throw new BkError(`${path} is not UTF-8 text; fix its encoding`, {code: 'EINI'})
    }
    return new IniFile(text, {...options, path})
  }

  private reindex(): IniIndex {
    try {
      return indexLines(this.lines)
    } catch (error) {
      if (error instanceof IniSyntaxError) {
        throw new BkError(`${this.path ?? 'INI text'}: ${error.message}; fix that line`, {code: 'EINI'})
      }
      throw error
    }
  }

  /** Section names in file order (DEFAULT excluded). */
  sections(): string[] {
    return [...this.index.sections.keys()]
  }

  hasSection(section: string): boolean {
    return section === DEFAULT_SECTION ? Boolean(this.index.defaults) : this.index.sections.has(section)
  }

  /** Whether the option is set in the section itself or in DEFAULT / defaults. */
  has(section: string, key: string): boolean {
    return this.rawValue(section, key) !== undefined
  }

  /** Option names of a section (lower-cased, file order), DEFAULT ones not included. */
  keys(section: string): string[] {
    return [...(this.section(section)?.options.keys() ?? [])]
  }

  /** `[key, value]` of a section's own options, interpolated like get(). */
  items(section: string): [string, string][] {
    return this.keys(section).map((key) => [key, this.get(section, key) as string])
  }

  private section(name: string): IniSection | undefined {
    return name === DEFAULT_SECTION ? this.index.defaults : this.index.sections.get(name)
  }

  /** The value as written (no interpolation): the section's, else DEFAULT's, else `defaults`. */
  rawValue(section: string, key: string): string | undefined {
    const k = key.toLowerCase()
    if (section !== DEFAULT_SECTION && !this.index.sections.has(section)) return undefined
    const own = this.section(section)?.options.get(k)
    if (own) return own.value
    const fromDefault = this.index.defaults?.options.get(k)
    if (fromDefault) return fromDefault.value
    return this.defaultValue(k)
  }

  private defaultValue(k: string): string | undefined {
    for (const [name, value] of Object.entries(this.options.defaults ?? {})) if (name.toLowerCase() === k) return value
    return undefined
  }

  /** The value (interpolated with interpolation 'basic'); undefined when the option or section is missing. */
  get(section: string, key: string, options: {raw?: boolean} = {}): string | undefined {
    const raw = this.rawValue(section, key)
    if (raw === undefined || options.raw || this.options.interpolation !== 'basic') return raw
    try {
      return interpolate(raw, (name) => this.rawValue(section, name))
    } catch (error) {
      if (error instanceof InterpolationError) {
        throw new BkError(`${this.path ?? 'INI text'}: [${section}] ${key}: ${error.message}`, {code: 'EINI'})
      }
      throw error
    }
  }

  /** configparser's getboolean: 1/yes/true/on and 0/no/false/off (any case). */
  getBoolean(section: string, key: string): boolean | undefined {
    const value = this.get(section, key)
    if (value === undefined) return undefined
    const result = BOOLEANS[value.toLowerCase()]
    if (result === undefined) {
      throw new BkError(`${this.path ?? 'INI text'}: [${section}] ${key} = ${value} is not a boolean (yes/no)`, {
        code: 'EINI',
      })
    }
    return result
  }

  getInt(section: string, key: string): number | undefined {
    const value = this.get(section, key)
    if (value === undefined) return undefined
    if (!/^[+-]?\d+$/.test(value.trim())) {
      throw new BkError(`${this.path ?? 'INI text'}: [${section}] ${key} = ${value} is not a whole number`, {
        code: 'EINI',
      })
    }
    return Number(value)
  }

  /**
   * Set a value so that get() gives it back (with 'basic' interpolation `%` is escaped as `%%`; use setRaw to
   * write references). An existing option is changed in place, keeping its key spelling and ` = ` style; a new
   * one goes after the section's last option; a new section is appended at the end.
   */
  set(section: string, key: string, value: string): this {
    return this.setRaw(section, key, this.options.interpolation === 'basic' ? escapePercent(value) : value)
  }

  /** Set the text exactly as it is to be written. */
  setRaw(section: string, key: string, value: string): this {
    checkName(section, key, value)
    const eol = this.dominantEol()
    const k = key.toLowerCase()
    const existing = this.section(section)?.options.get(k)
    if (existing) {
      const first = this.lines[existing.line] as IniLine
      const prefix = valuePrefix(first.text)
      const contIndent = continuationIndent(this.lines, existing.line, existing.lastLine, first.text)
      const replacement = renderValue(prefix, value, contIndent)
      const lastEol = (this.lines[existing.lastLine] as IniLine).eol
      const newLines = replacement.map((text, i) => ({text, eol: i === replacement.length - 1 ? lastEol : eol}))
      this.lines.splice(existing.line, existing.lastLine - existing.line + 1, ...newLines)
    } else if (this.hasSection(section)) {
      const target = this.section(section) as IniSection
      const style = this.styleOf(target)
      const rendered = renderValue(`${style.indent}${key}${style.delimiter}`, value, `${style.indent}\t`)
      this.insertAfter(target.lastLine, rendered, eol)
    } else {
      if (this.lines.length > 0) {
        const last = this.lines[this.lines.length - 1] as IniLine
        if (last.eol === '') last.eol = eol
        if (last.text.trim() !== '') this.lines.push({text: '', eol})
      }
      const rendered = [`[${section}]`, ...renderValue(`${key} = `, value, '\t')]
      for (const text of rendered) this.lines.push({text, eol})
    }
    this.index = this.reindex()
    return this
  }

  /** Remove an option from a section (its continuation lines too). Returns whether it was there. */
  remove(section: string, key: string): boolean {
    const existing = this.section(section)?.options.get(key.toLowerCase())
    if (!existing) return false
    const lastEol = (this.lines[existing.lastLine] as IniLine).eol
    this.lines.splice(existing.line, existing.lastLine - existing.line + 1)
    // Removing the file's last line: the new last line keeps the old ending style.
    if (existing.line === this.lines.length && this.lines.length > 0 && lastEol === '') {
      ;(this.lines[this.lines.length - 1] as IniLine).eol = ''
    }
    this.index = this.reindex()
    return true
  }

  toString(): string {
    return this.lines.map((line) => line.text + line.eol).join('')
  }

  /**
   * Write atomically (temp beside it, fsync, rename), keeping the existing file's mode, and its owner when
   * bk runs as root. A symlinked file is written at its target. New files get `mode` (default 0o644).
   */
  async write(path: string | undefined = this.path, options: {mode?: number} = {}): Promise<void> {
    if (!path) throw new Error('IniFile.write: no path')
    const real = await realpath(path).catch(() => path)
    const current = await stat(real).catch(() => undefined)
    const mode = current ? current.mode & 0o7777 : (options.mode ?? 0o644)
    const text = this.toString()
    await atomicFile(
      real,
      async (tmp) => {
        await writeFile(tmp, text)
        if (current && process.getuid?.() === 0) await chown(tmp, current.uid, current.gid)
      },
      {overwrite: true, mode},
    )
  }

  private dominantEol(): string {
    return this.lines.find((line) => line.eol !== '')?.eol ?? '\n'
  }

  private insertAfter(index: number, texts: string[], eol: string): void {
    const after = this.lines[index] as IniLine
    const newLines = texts.map((text) => ({text, eol}))
    if (after.eol === '') {
      // It was the file's last line, without an ending: it gets one, the new last line has none.
      after.eol = eol
      ;(newLines[newLines.length - 1] as IniLine).eol = ''
    }
    this.lines.splice(index + 1, 0, ...newLines)
  }

  /** How the section writes `key = value` (from its last option), so an added line looks like its neighbours. */
  private styleOf(section: IniSection): {indent: string; delimiter: string} {
    const options = [...section.options.values()]
    const last = options.sort((a, b) => a.line - b.line).pop()
    if (!last) return {indent: '', delimiter: ' = '}
    const text = (this.lines[last.line] as IniLine).text
    const match = /^(\s*)(.*?)(\s*[=:]\s*)/.exec(text)
    const delimiter = match?.[3] ?? ' = '
    return {
      indent: match?.[1] ?? '',
      delimiter: /\s$/.test(delimiter) || !/^\s/.test(delimiter) ? delimiter : `${delimiter} `,
    }
  }
}

/** `key = ` of an option line, up to where its value starts (a space is added after a bare `key =`). */
function valuePrefix(line: string): string {
  const match = /^(\s*.*?\s*[=:]\s*)(.*)$/.exec(line)
  const prefix = match?.[1] ?? line
  if (match?.[2] === '' && !/\s$/.test(prefix) && /\s[=:]$/.test(prefix)) return `${prefix} `
  return prefix
}

function continuationIndent(lines: readonly IniLine[], first: number, last: number, firstText: string): string {
  for (let i = first + 1; i <= last; i++) {
    const text = (lines[i] as IniLine).text
    if (text.trim() !== '' && !isCommentText(text)) return /^\s*/.exec(text)?.[0] ?? '\t'
  }
  return `${/^\s*/.exec(firstText)?.[0] ?? ''}\t`
}

function renderValue(prefix: string, value: string, indent: string): string[] {
  const [head = '', ...rest] = value.split('\n')
  return [`${prefix}${head}`, ...rest.map((line) => `${indent}${line}`)]
}

function checkName(section: string, key: string, value: string): void {
  const bad = (what: string) => new BkError(`cannot write ${what} into an INI file`, {code: 'EINI'})
  if (!section || /[\]\r\n]/.test(section) || section.trim() !== section)
    throw bad(`the section name ${JSON.stringify(section)}`)
  if (!key || /[=:\r\n]/.test(key) || key.trim() !== key || /^[[#;]/.test(key))
    throw bad(`the key ${JSON.stringify(key)}`)
  if (/\r/.test(value)) throw bad('a value with a carriage return')
  const lines = value.split('\n')
  if (
    lines.some((line, i) => line.trim() !== line && !(i > 0 && line.trim() === '')) ||
    (lines.length > 1 && lines.at(-1) === '')
  ) {
    throw bad(`the value ${JSON.stringify(value)} (surrounding spaces are dropped when read)`)
  }
  if (lines.slice(1).some((line) => isCommentText(line)))
    throw bad('a value line starting with # or ; (read as a comment)')
}
