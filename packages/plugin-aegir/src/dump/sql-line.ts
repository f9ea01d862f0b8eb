import {type Replacer, rewriteSerialized} from './serialized.js'

/**
 * Rewriting the values inside one line of a SQL dump (byte string). Only string literals (and hex/bytea
 * literals) whose decoded value contains `needle` are decoded, rewritten serialized-aware and encoded again;
 * every other byte of the line stays as the dump tool wrote it.
 */
export interface LineRewriter {
  /** Returns the rewritten line and how many values changed. */
  line(text: string): {text: string; changed: number}
}

/** mysqldump output: '…' literals with backslash escapes, 0x… hex literals. */
export function mysqlLineRewriter(needle: string, replace: Replacer): LineRewriter {
  return {
    line(text) {
      if (!text.includes(needle) && !text.includes('0x')) return {text, changed: 0}
      if (text.startsWith('--')) return {text, changed: 0}
      return rewriteSqlLiterals(text, needle, replace, true)
    },
  }
}

/** pg_dump plain output: COPY … FROM stdin data lines (tab-separated, backslash escapes, bytea as \\x…), else SQL. */
export function postgresLineRewriter(needle: string, replace: Replacer): LineRewriter {
  let inCopy = false
  return {
    line(text) {
      if (inCopy) {
        if (text === '\\.') {
          inCopy = false
          return {text, changed: 0}
        }
        if (!text.includes(needle) && !text.includes('\\\\x')) return {text, changed: 0}
        return rewriteCopyLine(text, needle, replace)
      }
      if (/^COPY .* FROM stdin;$/.test(text)) inCopy = true
      if (!text.includes(needle) || text.startsWith('--')) return {text, changed: 0}
      return rewriteSqlLiterals(text, needle, replace, false)
    },
  }
}

function rewriteValue(value: string, needle: string, replace: Replacer): string | undefined {
  if (!value.includes(needle)) return undefined
  const next = rewriteSerialized(value, replace)
  return next === value ? undefined : next
}

function rewriteSqlLiterals(
  text: string,
  needle: string,
  replace: Replacer,
  backslashEscapes: boolean,
): {text: string; changed: number} {
  let out = ''
  let changed = 0
  let i = 0
  let copied = 0
  const n = text.length
  while (i < n) {
    const c = text[i]!
    if (c === '`' || c === '"') {
      const close = text.indexOf(c, i + 1)
      i = close < 0 ? n : close + 1
      continue
    }
    if (c === '0' && text[i + 1] === 'x' && backslashEscapes && !/[A-Za-z0-9_]/.test(text[i - 1] ?? '')) {
      let e = i + 2
      while (e < n && /[0-9A-Fa-f]/.test(text[e]!)) e++
      const hex = text.slice(i + 2, e)
      if (hex.length % 2 === 0 && hex.length > 0) {
        const decoded = Buffer.from(hex, 'hex').toString('latin1')
        const next = rewriteValue(decoded, needle, replace)
        if (next !== undefined) {
          out += text.slice(copied, i) + '0x' + Buffer.from(next, 'latin1').toString('hex').toUpperCase()
          copied = e
          changed++
        }
      }
      i = e
      continue
    }
    if (c !== "'") {
      i++
      continue
    }
    // a string literal: find its end, decoding as we go
    let value = ''
    let j = i + 1
    for (; j < n; j++) {
      const d = text[j]!
      if (d === '\\' && backslashEscapes) {
        value += unescapeMysql(text[j + 1] ?? '')
        j++
      } else if (d === "'") {
        if (text[j + 1] === "'") {
          value += "'"
          j++
        } else break
      } else value += d
    }
    const end = j + 1
    const next = rewriteValue(value, needle, replace)
    if (next !== undefined) {
      out += text.slice(copied, i) + (backslashEscapes ? escapeMysql(next) : `'${next.replace(/'/g, "''")}'`)
      copied = end
      changed++
    }
    i = end
  }
  return {text: changed === 0 ? text : out + text.slice(copied), changed}
}

const MYSQL_UNESCAPE: Record<string, string> = {'0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a'}

function unescapeMysql(c: string): string {
  // \% and \_ keep their backslash (LIKE escapes); everything else is the char itself
  if (c === '%' || c === '_') return `\\${c}`
  return MYSQL_UNESCAPE[c] ?? c
}

/** As mysqldump (mysql_real_escape_string) writes a string literal. */
export function escapeMysql(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: mysqldump escapes NUL and ^Z
  return `'${value.replace(/[\0\n\r\\'"\x1a]/g, (c) => {
    switch (c) {
      case '\0':
        return '\\0'
      case '\n':
        return '\\n'
      case '\r':
        return '\\r'
      case '\x1a':
        return '\\Z'
      default:
        return `\\${c}`
    }
  })}'`
}

function rewriteCopyLine(text: string, needle: string, replace: Replacer): {text: string; changed: number} {
  let changed = 0
  const fields = text.split('\t').map((field) => {
    if (field === '\\N') return field
    const value = unescapeCopy(field)
    if (value.startsWith('\\x') && /^\\x([0-9a-fA-F]{2})*$/.test(value)) {
      const decoded = Buffer.from(value.slice(2), 'hex').toString('latin1')
      const next = rewriteValue(decoded, needle, replace)
      if (next === undefined) return field
      changed++
      return escapeCopy(`\\x${Buffer.from(next, 'latin1').toString('hex')}`)
    }
    const next = rewriteValue(value, needle, replace)
    if (next === undefined) return field
    changed++
    return escapeCopy(next)
  })
  return {text: changed === 0 ? text : fields.join('\t'), changed}
}

const COPY_UNESCAPE: Record<string, string> = {b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v'}

function unescapeCopy(field: string): string {
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x' && e.length > 1) return String.fromCharCode(Number.parseInt(e.slice(1), 16))
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8) & 0xff)
    return COPY_UNESCAPE[e] ?? e
  })
}

function escapeCopy(value: string): string {
  return value.replace(/[\\\b\f\n\r\t\v]/g, (c) => {
    const map: Record<string, string> = {
      '\\': '\\\\',
      '\b': '\\b',
      '\f': '\\f',
      '\n': '\\n',
      '\r': '\\r',
      '\t': '\\t',
      '\v': '\\v',
    }
    return map[c]!
  })
}
