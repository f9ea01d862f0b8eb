/**
 * Python values as Roundup writes them: the Python-2-style `repr_export` of roundup/anypy/strings.py, and a
 * parser for the literals it reads back with `ast.literal_eval` (CSV fields, journal params, the `schema` row).
 *
 * Model: a JS string is a Python str, a bigint an int, a number a float, boolean a bool, null None,
 * an Array a list, a PyTuple a tuple, a PyDict a dict.
 */

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export class PyDict {
  constructor(readonly entries: [PyValue, PyValue][] = []) {}
  get(key: string): PyValue | undefined {
    for (const [k, v] of this.entries) if (k === key) return v
    return undefined
  }
  set(key: string, value: PyValue): void {
    for (const entry of this.entries) {
      if (entry[0] === key) {
        entry[1] = value
        return
      }
    }
    this.entries.push([key, value])
  }
}

export type PyValue = null | boolean | bigint | number | string | PyValue[] | PyTuple | PyDict

/** Python's repr() of a float: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const abs = Math.abs(x)
  if (abs >= 1e-4 && abs < 1e16) {
    // whole numbers print in fixed notation with one decimal (most dates' seconds); the others as JavaScript
    // prints them: the same shortest round-trip digits, and fixed notation over all of this range (1e-7 .. 1e21)
    return Number.isInteger(x) ? `${x}.0` : String(x)
  }
  const sign = x < 0 ? '-' : ''
  const [mant, expText] = Math.abs(x).toExponential().split('e')
  const digits = mant!.replace('.', '')
  const exp = Number(expText)
  const decpt = exp + 1
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`
  }
  const frac = digits.length > 1 ? `.${digits.slice(1)}` : ''
  const e = Math.abs(exp)
  return `${sign}${digits[0]!}${frac}e${exp < 0 ? '-' : '+'}${e < 10 ? `0${e}` : e}`
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0')
}

/** Printable ASCII without `'` and `\\`: the repr is the text itself in single quotes. */
const PLAIN_ASCII = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/

/** repr() of Python bytes without the leading b: how Roundup writes every str. */
export function bytesRepr(text: string): string {
  if (PLAIN_ASCII.test(text)) return `'${text}'`
  const bytes = Buffer.from(text, 'utf8')
  const hasSingle = bytes.includes(0x27)
  const quote = hasSingle && !bytes.includes(0x22) ? '"' : "'"
  const q = quote.charCodeAt(0)
  let out = quote
  for (const b of bytes) {
    if (b === q || b === 0x5c) out += `\\${String.fromCharCode(b)}`
    else if (b === 0x09) out += '\\t'
    else if (b === 0x0a) out += '\\n'
    else if (b === 0x0d) out += '\\r'
    else if (b < 0x20 || b >= 0x7f) out += `\\x${hex2(b)}`
    else out += String.fromCharCode(b)
  }
  return out + quote
}

const NON_PRINTABLE = /[\p{C}\p{Z}]/u

/** repr() of a Python 3 str (used for strings nested in lists and tuples). */
export function strRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  let out = quote
  for (const ch of text) {
    const c = ch.codePointAt(0) as number
    if (ch === quote || ch === '\\') out += `\\${ch}`
    else if (ch === '\t') out += '\\t'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (c < 0x20 || c === 0x7f) out += `\\x${hex2(c)}`
    else if (c < 0x7f || ch === ' ') out += ch
    else if (NON_PRINTABLE.test(ch)) {
      if (c < 0x100) out += `\\x${hex2(c)}`
      else if (c < 0x10000) out += `\\u${c.toString(16).padStart(4, '0')}`
      else out += `\\U${c.toString(16).padStart(8, '0')}`
    } else out += ch
  }
  return out + quote
}

/** Python 3 repr(). */
export function pyRepr(v: PyValue): string {
  if (v === null) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return pyFloatRepr(v)
  if (typeof v === 'string') return strRepr(v)
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`
  if (v instanceof PyTuple) {
    if (v.items.length === 1) return `(${pyRepr(v.items[0]!)},)`
    return `(${v.items.map(pyRepr).join(', ')})`
  }
  return `{${v.entries.map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`
}

/** Python's ordering of dict keys as `sorted()` sees them (strings by code point, numbers numerically). */
export function pyCompare(a: PyValue, b: PyValue): number {
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b)
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return a < b ? -1 : a > b ? 1 : 0
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  return compareCodePoints(pyRepr(a), pyRepr(b))
}

/** Compare strings as Python does (by code point, not UTF-16 unit). */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      const surrogate = (c: number) => c >= 0xd800 && c <= 0xdfff
      if (surrogate(x) !== surrogate(y)) return surrogate(x) ? 1 : -1
      return x - y
    }
  }
  return a.length - b.length
}

/** roundup.anypy.strings.repr_export: str as bytes repr, dicts with sorted keys, the rest as repr(). */
export function reprExport(v: PyValue): string {
  if (typeof v === 'string') return bytesRepr(v)
  if (v instanceof PyDict) {
    const sorted = [...v.entries].sort((x, y) => pyCompare(x[0], y[0]))
    return `{${sorted.map(([k, x]) => `${reprExport(k)}: ${reprExport(x)}`).join(', ')}}`
  }
  return pyRepr(v)
}

export class PyLiteralError extends Error {}

/** ast.literal_eval for the literals Roundup writes (no expressions, calls or names beyond None/True/False). */
export function parsePyLiteral(text: string): PyValue {
  const p = new Parser(text)
  p.ws()
  const v = p.value()
  p.ws()
  if (p.i < text.length) p.fail('unexpected text after the value')
  return v
}

/** eval_import: literal_eval, then top-level strs (and dict keys/values) decoded from their \xNN UTF-8 bytes. */
export function evalImport(text: string): PyValue {
  const v = parsePyLiteral(text)
  if (typeof v === 'string') return latin1ToUtf8(v)
  if (v instanceof PyDict) {
    return new PyDict(
      v.entries.map(([k, x]) => [
        typeof k === 'string' ? latin1ToUtf8(k) : k,
        typeof x === 'string' ? latin1ToUtf8(x) : x,
      ]),
    )
  }
  return v
}

/** str.encode('iso-8859-1').decode('utf-8'); text with characters above U+00FF is kept as is. */
export function latin1ToUtf8(s: string): string {
  let high = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff) return s
    if (c > 0x7f) high = true
  }
  if (!high) return s
  return Buffer.from(s, 'latin1').toString('utf8')
}

/** A number literal where the parser stands (sticky: no copy of the rest of the text per number). */
const NUMBER = /[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)L?/y
const INTEGER = /^[-+]?\d+$/

class Parser {
  i = 0
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new PyLiteralError(`${what} at offset ${this.i} in ${JSON.stringify(this.s.slice(0, 80))}`)
  }

  ws(): void {
    const s = this.s
    for (;;) {
      const c = s.charCodeAt(this.i)
      // ASCII blanks directly; anything else non-ASCII through \s, as before
      if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) this.i++
      else if (c > 0x7f && /\s/.test(s[this.i] as string)) this.i++
      else return
    }
  }

  value(): PyValue {
    const c = this.s[this.i]
    if (c === undefined) return this.fail('unexpected end')
    if (c === '[') return this.seq(']') as PyValue[]
    if (c === '(') {
      const {items, trailingComma} = this.seqRaw(')')
      if (items.length === 1 && !trailingComma) return items[0]!
      return new PyTuple(items)
    }
    if (c === '{') return this.dict()
    if (c === "'" || c === '"') return this.str()
    if ((c === 'b' || c === 'u' || c === 'B' || c === 'U') && /['"]/.test(this.s[this.i + 1] ?? '')) {
      this.i++
      return this.str()
    }
    if (/[-+0-9.]/.test(c)) return this.num()
    for (const [word, v] of [
      ['None', null],
      ['True', true],
      ['False', false],
    ] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length
        return v
      }
    }
    return this.fail('unexpected character')
  }

  seq(close: string): PyValue[] {
    return this.seqRaw(close).items
  }

  seqRaw(close: string): {items: PyValue[]; trailingComma: boolean} {
    this.i++
    const items: PyValue[] = []
    let trailingComma = false
    this.ws()
    while (this.s[this.i] !== close) {
      items.push(this.value())
      this.ws()
      trailingComma = false
      if (this.s[this.i] === ',') {
        this.i++
        trailingComma = true
        this.ws()
      } else if (this.s[this.i] !== close) this.fail(`expected , or ${close}`)
    }
    this.i++
    return {items, trailingComma}
  }

  dict(): PyDict {
    this.i++
    const d = new PyDict()
    this.ws()
    while (this.s[this.i] !== '}') {
      const k = this.value()
      this.ws()
      if (this.s[this.i] !== ':') this.fail('expected :')
      this.i++
      this.ws()
      const v = this.value()
      d.entries.push([k, v])
      this.ws()
      if (this.s[this.i] === ',') {
        this.i++
        this.ws()
      } else if (this.s[this.i] !== '}') this.fail('expected , or }')
    }
    this.i++
    return d
  }

  num(): number | bigint {
    NUMBER.lastIndex = this.i
    const m = NUMBER.exec(this.s)
    if (!m) return this.fail('bad number')
    this.i += m[0].length
    const t = m[0].endsWith('L') ? m[0].slice(0, -1) : m[0]
    if (INTEGER.test(t)) return BigInt(t)
    return Number(t)
  }

  str(): string {
    const q = this.s[this.i]!
    const triple = this.s.startsWith(q.repeat(3), this.i)
    const end = triple ? q.repeat(3) : q
    this.i += end.length
    const qc = q.charCodeAt(0)
    let out = ''
    for (;;) {
      // the run of plain characters up to the next quote or backslash, in one slice
      let j = this.i
      for (let c = this.s.charCodeAt(j); j < this.s.length && c !== qc && c !== 0x5c; c = this.s.charCodeAt(++j));
      if (j > this.i) {
        out += this.s.slice(this.i, j)
        this.i = j
      }
      if (this.i >= this.s.length) this.fail('unterminated string')
      if (this.s.startsWith(end, this.i)) {
        this.i += end.length
        return out
      }
      const c = this.s[this.i++]!
      if (c !== '\\') {
        out += c
        continue
      }
      const e = this.s[this.i++]
      switch (e) {
        case 'n':
          out += '\n'
          break
        case 't':
          out += '\t'
          break
        case 'r':
          out += '\r'
          break
        case 'a':
          out += '\x07'
          break
        case 'b':
          out += '\b'
          break
        case 'f':
          out += '\f'
          break
        case 'v':
          out += '\v'
          break
        case '\n':
          break
        case 'x':
          out += String.fromCharCode(Number.parseInt(this.take(2, /^[0-9a-fA-F]{2}$/), 16))
          break
        case 'u':
          out += String.fromCharCode(Number.parseInt(this.take(4, /^[0-9a-fA-F]{4}$/), 16))
          break
        case 'U':
          out += String.fromCodePoint(Number.parseInt(this.take(8, /^[0-9a-fA-F]{8}$/), 16))
          break
        default:
          if (e !== undefined && /[0-7]/.test(e)) {
            let oct = e
            while (oct.length < 3 && /[0-7]/.test(this.s[this.i] ?? '')) oct += this.s[this.i++]
            out += String.fromCharCode(Number.parseInt(oct, 8))
          } else if (e === '\\' || e === "'" || e === '"') out += e
          else out += `\\${e}`
      }
    }
  }

  take(n: number, re: RegExp): string {
    const t = this.s.slice(this.i, this.i + n)
    if (!re.test(t)) this.fail('bad escape')
    this.i += n
    return t
  }
}
