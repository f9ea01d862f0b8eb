/**
 * A small PHP lexer: enough to read the literal assignments in settings.php and drushrc.php without running PHP.
 * Every token keeps its source span, so a value can be rewritten in place and the rest of the file stays
 * byte-for-byte as it was.
 */
export type TokenKind = 'variable' | 'string' | 'number' | 'word' | 'punct' | 'other'

export interface Token {
  kind: TokenKind
  /** Source text of the token. */
  text: string
  start: number
  end: number
  /** Decoded value of a string literal; undefined when it interpolates variables (not a literal). */
  value?: string
  /** Quote of a string literal. */
  quote?: "'" | '"'
}

const PUNCT = [
  '===',
  '!==',
  '<=>',
  '**=',
  '...',
  '??=',
  '=>',
  '==',
  '!=',
  '<=',
  '>=',
  '->',
  '::',
  '++',
  '--',
  '.=',
  '+=',
  '-=',
  '*=',
  '/=',
  '&&',
  '||',
  '??',
]

export function lexPhp(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const n = source.length
  // Outside <?php … ?> is inline HTML: skipped.
  const skipInline = () => {
    const open = source.indexOf('<?php', i)
    const short = source.indexOf('<?=', i)
    const next = [open, short].filter((x) => x >= 0).sort((a, b) => a - b)[0]
    if (next === undefined) i = n
    else i = next + (next === open ? 5 : 3)
  }
  skipInline()
  while (i < n) {
    const c = source[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
      continue
    }
    if (c === '?' && source[i + 1] === '>') {
      i += 2
      skipInline()
      continue
    }
    if (c === '#' || (c === '/' && source[i + 1] === '/')) {
      while (i < n && source[i] !== '\n' && !(source[i] === '?' && source[i + 1] === '>')) i++
      continue
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2)
      i = end < 0 ? n : end + 2
      continue
    }
    const start = i
    if (c === '$' && isNameStart(source[i + 1])) {
      i += 2
      while (i < n && isNameChar(source[i])) i++
      tokens.push({kind: 'variable', text: source.slice(start, i), start, end: i})
      continue
    }
    if (c === "'") {
      let value = ''
      i++
      while (i < n && source[i] !== "'") {
        if (source[i] === '\\' && (source[i + 1] === "'" || source[i + 1] === '\\')) {
          value += source[i + 1]
          i += 2
        } else value += source[i++]
      }
      i++
      tokens.push({kind: 'string', text: source.slice(start, i), start, end: i, value, quote: "'"})
      continue
    }
    if (c === '"') {
      const {value, end} = readDoubleQuoted(source, i)
      i = end
      tokens.push({kind: 'string', text: source.slice(start, i), start, end: i, value, quote: '"'})
      continue
    }
    if (c === '<' && source.startsWith('<<<', i)) {
      // heredoc/nowdoc: not a literal we rewrite; skip to its terminator.
      const m = /^<<<[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1\r?\n/.exec(source.slice(i))
      if (m) {
        const re = new RegExp(`\\n[ \\t]*${m[2]}\\b`, 'g')
        re.lastIndex = i + m[0].length - 1
        const found = re.exec(source)
        i = found ? found.index + found[0].length : n
        tokens.push({kind: 'other', text: source.slice(start, i), start, end: i})
        continue
      }
    }
    if (isDigit(c) || (c === '.' && isDigit(source[i + 1]))) {
      while (i < n && /[0-9a-fA-FxXoObB._eE]/.test(source[i]!)) i++
      tokens.push({kind: 'number', text: source.slice(start, i), start, end: i})
      continue
    }
    if (isNameStart(c) || c === '\\') {
      while (i < n && (isNameChar(source[i]) || source[i] === '\\')) i++
      tokens.push({kind: 'word', text: source.slice(start, i), start, end: i})
      continue
    }
    const p = PUNCT.find((x) => source.startsWith(x, i))
    const text = p ?? c
    i += text.length
    tokens.push({kind: 'punct', text, start, end: i})
  }
  return tokens
}

function readDoubleQuoted(source: string, from: number): {value: string | undefined; end: number} {
  let i = from + 1
  let value = ''
  let literal = true
  const simple: Record<string, string> = {
    n: '\n',
    t: '\t',
    r: '\r',
    v: '\v',
    e: '\x1b',
    f: '\f',
    '\\': '\\',
    $: '$',
    '"': '"',
  }
  while (i < source.length && source[i] !== '"') {
    const c = source[i]!
    if (c === '\\') {
      const d = source[i + 1] ?? ''
      if (d in simple) {
        value += simple[d]
        i += 2
      } else if (/[0-7]/.test(d)) {
        const m = /^[0-7]{1,3}/.exec(source.slice(i + 1))!
        value += String.fromCharCode(Number.parseInt(m[0], 8) & 0xff)
        i += 1 + m[0].length
      } else if (d === 'x' && /[0-9A-Fa-f]/.test(source[i + 2] ?? '')) {
        const m = /^[0-9A-Fa-f]{1,2}/.exec(source.slice(i + 2))!
        value += String.fromCharCode(Number.parseInt(m[0], 16))
        i += 2 + m[0].length
      } else if (d === 'u' && source[i + 2] === '{') {
        const close = source.indexOf('}', i)
        value += String.fromCodePoint(Number.parseInt(source.slice(i + 3, close), 16))
        i = close + 1
      } else {
        value += c
        i++
      }
      continue
    }
    if ((c === '$' && isNameStart(source[i + 1])) || (c === '{' && source[i + 1] === '$')) literal = false
    value += c
    i++
  }
  return {value: literal ? value : undefined, end: i + 1}
}

function isNameStart(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z_\x80-\uffff]/.test(c)
}
function isNameChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_\x80-\uffff]/.test(c)
}
function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9'
}

/** A PHP string literal for `value`, in the given quote style (single quotes unless told). */
export function phpString(value: string, quote: "'" | '"' = "'"): string {
  if (quote === "'") return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`
}
