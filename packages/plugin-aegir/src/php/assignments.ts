import {lexPhp, phpString, type Token} from './lexer.js'

/**
 * Reads the literal assignments of a PHP config file (`$x['a']['b'] = array(...);`, `$y = "...";`) into a model
 * of values that still know where they came from, so they can be read and rewritten. Anything that is not a
 * literal (a function call, a concatenation, `$_SERVER[...]`) is kept as an `expr` with its source text.
 * Later assignments override earlier ones, as PHP would run them top to bottom (conditions are not evaluated).
 */
export type PhpValue =
  | {kind: 'scalar'; value: string | number | boolean | null; token: Token}
  | {kind: 'array'; entries: Map<string, PhpValue>; start: number; end: number}
  | {kind: 'expr'; text: string; start: number; end: number}

export interface Assignment {
  variable: string
  keys: string[]
  value: PhpValue
  /** Span of the whole statement, `;` included. */
  start: number
  end: number
}

export class PhpConfig {
  readonly assignments: Assignment[]
  private readonly root = new Map<string, PhpValue>()

  constructor(readonly source: string) {
    this.assignments = parseAssignments(source)
    for (const a of this.assignments) assign(this.root, [a.variable, ...a.keys], a.value)
  }

  /** The value at `$variable[keys…]`, or undefined. */
  get(variable: string, ...keys: string[]): PhpValue | undefined {
    let v = this.root.get(variable)
    for (const k of keys) {
      if (v?.kind !== 'array') return undefined
      v = v.entries.get(k)
    }
    return v
  }

  /** A scalar as a string ('' for null/false), or undefined when missing or not a literal. */
  string(variable: string, ...keys: string[]): string | undefined {
    const v = this.get(variable, ...keys)
    if (v?.kind !== 'scalar') return undefined
    if (v.value === null || v.value === false) return ''
    if (v.value === true) return '1'
    return String(v.value)
  }
}

function assign(root: Map<string, PhpValue>, path: string[], value: PhpValue): void {
  let map = root
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!
    let next = map.get(key)
    if (next?.kind !== 'array') {
      next = {kind: 'array', entries: new Map(), start: -1, end: -1}
      map.set(key, next)
    }
    map = next.entries
  }
  map.set(path.at(-1)!, value)
}

export function parseAssignments(source: string): Assignment[] {
  const tokens = lexPhp(source)
  const out: Assignment[] = []
  let t = 0
  while (t < tokens.length) {
    const tok = tokens[t]!
    const prev = tokens[t - 1]
    // a statement starts after ; { } or at the top; `$a = $b = 1` and `foo($x = 1)` are not config
    const atStatement =
      !prev || (prev.kind === 'punct' && [';', '{', '}', ':'].includes(prev.text)) || prev.kind === 'other'
    if (tok.kind !== 'variable' || !atStatement) {
      t++
      continue
    }
    let j = t + 1
    const keys: string[] = []
    let ok = true
    while (tokens[j]?.text === '[') {
      const key = tokens[j + 1]
      if (key && (key.kind === 'string' || key.kind === 'number') && tokens[j + 2]?.text === ']') {
        const value = key.kind === 'string' ? key.value : String(Number(key.text))
        if (value === undefined) ok = false
        keys.push(value ?? '')
        j += 3
      } else {
        ok = false
        break
      }
    }
    if (!ok || tokens[j]?.text !== '=') {
      t = j > t ? j : t + 1
      continue
    }
    const parsed = parseValue(tokens, j + 1, source)
    const end = statementEnd(tokens, parsed.next)
    const value: PhpValue =
      tokens[parsed.next]?.text === ';' && parsed.value
        ? parsed.value
        : {
            kind: 'expr',
            text: source.slice(tokens[j + 1]?.start ?? 0, tokens[end - 1]?.start ?? source.length),
            start: tokens[j + 1]?.start ?? 0,
            end: tokens[end - 1]?.start ?? source.length,
          }
    out.push({variable: tok.text, keys, value, start: tok.start, end: tokens[end - 1]?.end ?? source.length})
    t = end
  }
  return out
}

/** Index just past the `;` that ends the statement starting at `from` (brackets balanced). */
function statementEnd(tokens: Token[], from: number): number {
  let depth = 0
  for (let k = from; k < tokens.length; k++) {
    const x = tokens[k]!.text
    if (tokens[k]!.kind !== 'punct') continue
    if (x === '(' || x === '[' || x === '{') depth++
    else if (x === ')' || x === ']' || x === '}') depth--
    else if (x === ';' && depth <= 0) return k + 1
  }
  return tokens.length
}

interface Parsed {
  value: PhpValue | undefined
  next: number
}

function parseValue(tokens: Token[], i: number, source: string): Parsed {
  const tok = tokens[i]
  if (!tok) return {value: undefined, next: i}
  if (tok.kind === 'string' && tok.value !== undefined)
    return {value: {kind: 'scalar', value: tok.value, token: tok}, next: i + 1}
  if (tok.kind === 'number')
    return {value: {kind: 'scalar', value: Number(tok.text.replace(/_/g, '')), token: tok}, next: i + 1}
  if (tok.kind === 'punct' && tok.text === '-' && tokens[i + 1]?.kind === 'number') {
    const num = tokens[i + 1]!
    const token = {...num, start: tok.start, text: source.slice(tok.start, num.end)}
    return {value: {kind: 'scalar', value: -Number(num.text), token}, next: i + 2}
  }
  if (tok.kind === 'word') {
    const w = tok.text.toLowerCase()
    if (w === 'true' || w === 'false' || w === 'null') {
      return {value: {kind: 'scalar', value: w === 'null' ? null : w === 'true', token: tok}, next: i + 1}
    }
    if (w === 'array' && tokens[i + 1]?.text === '(') return parseArray(tokens, i + 2, ')', tok.start, source)
  }
  if (tok.kind === 'punct' && tok.text === '[') return parseArray(tokens, i + 1, ']', tok.start, source)
  return {value: undefined, next: i}
}

function parseArray(tokens: Token[], i: number, close: string, start: number, source: string): Parsed {
  const entries = new Map<string, PhpValue>()
  let auto = 0
  let k = i
  while (k < tokens.length && tokens[k]!.text !== close) {
    let key: string | undefined
    let value = parseValue(tokens, k, source)
    if (tokens[value.next]?.text === '=>') {
      const keyValue = value.value
      if (keyValue?.kind !== 'scalar') return {value: undefined, next: k}
      key = String(keyValue.value)
      value = parseValue(tokens, value.next + 1, source)
    }
    if (!value.value) {
      // not a literal element: keep it as an expression up to the next , or the closing bracket
      const from = value.next
      let depth = 0
      let e = from
      for (; e < tokens.length; e++) {
        const x = tokens[e]!.text
        if (x === '(' || x === '[') depth++
        else if ((x === ')' || x === ']') && depth > 0) depth--
        else if (depth === 0 && (x === ',' || x === close)) break
      }
      const s = tokens[from]?.start ?? 0
      const en = tokens[e - 1]?.end ?? s
      value = {value: {kind: 'expr', text: source.slice(s, en), start: s, end: en}, next: e}
    }
    if (key === undefined) key = String(auto++)
    else if (/^\d+$/.test(key)) auto = Math.max(auto, Number(key) + 1)
    entries.set(key, value.value!)
    k = value.next
    if (tokens[k]?.text === ',') k++
    else if (tokens[k]?.text !== close) return {value: undefined, next: k}
  }
  const end = tokens[k]?.end ?? source.length
  return {value: {kind: 'array', entries, start, end}, next: k + 1}
}

/** An edit of a PHP source: replace [start, end) with text. */
export interface Edit {
  start: number
  end: number
  text: string
}

/** Replace a literal scalar, keeping its quote style (numbers stay numbers when the new value is numeric). */
export function replaceScalar(value: PhpValue, next: string): Edit {
  if (value.kind !== 'scalar') throw new Error('not a literal')
  const tok = value.token
  const text =
    tok.kind === 'number' && /^-?\d+$/.test(next) ? next : phpString(next, tok.kind === 'string' ? tok.quote : "'")
  return {start: tok.start, end: tok.end, text}
}

export function applyEdits(source: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start)
  let out = source
  for (const e of sorted) out = out.slice(0, e.start) + e.text + out.slice(e.end)
  return out
}
