import {Transform, type TransformCallback} from 'node:stream'
import {BkError} from '../errors.js'

/**
 * A dump is data from the backed-up server, but psql and mysql also obey client commands in their input: `\! cmd`
 * and `system cmd` run a shell on the restoring machine, `\o file` / `tee file` write files, `\i` / `source` read
 * them, `\q` / `quit` end the load early. pg_dump and mysqldump never write those, so the guard refuses them before
 * the client reads their line. It follows each client's own lexical rules (quotes, comments, COPY data, dollar
 * quotes, DELIMITER), so a `\!` inside a string or a COPY row is data and passes untouched; the bytes themselves are
 * never changed.
 */
export interface DumpGuard {
  filter: Transform
  /** What the dump was still inside at its end ("a COPY block begun at line 12"), or undefined. */
  openAtEnd(): string | undefined
}

/** psql meta-commands that pg_dump / pg_dumpall write, or that only print; everything else is refused. */
const PSQL_ALLOWED = new Set(['c', 'connect', 'restrict', 'unrestrict', 'encoding', 'echo', 'qecho', 'warn'])
/** psql meta-commands allowed only without arguments (with one they write to a file or a pipe). */
const PSQL_ALLOWED_BARE = new Set(['g', 'gx'])
/**
 * mysql one-letter commands that stay inside the session: sandbox, go, use, delimiter, clear, warnings; `\N` is NULL.
 * Not `\C` (charset): the guard lexes as utf8mb4, which bk's mysql is started with.
 */
const MYSQL_ALLOWED_LETTERS = new Set(['-', 'g', 'G', 'u', 'd', 'c', 'W', 'w', 'N'])
/** mysql named commands (at the start of a line) that reach outside the database or end the input. */
const MYSQL_REFUSED_WORDS = new Set(['system', 'source', 'tee', 'pager', 'quit', 'exit', 'connect', 'edit'])

const NL = 0x0a
const CR = 0x0d
const BACKSLASH = 0x5c
const SQUOTE = 0x27
const DQUOTE = 0x22
const BACKTICK = 0x60
const DOLLAR = 0x24
const SLASH = 0x2f
const STAR = 0x2a
const DASH = 0x2d
const HASH = 0x23
const SEMI = 0x3b

enum S {
  Code,
  Quote, // '…' (psql: standard string; mysql: backslash escapes)
  EQuote, // psql E'…': backslash escapes
  DQuote,
  Backtick,
  Dollar,
  LineComment,
  BlockComment,
  Meta, // psql: a meta-command's arguments, to the end of the line
  CopyData, // psql: rows of COPY … FROM stdin, to a line `\.`
}

/** Bytes of a statement's text kept to recognize COPY … FROM stdin and sql_mode / standard_conforming_strings. */
const STATEMENT_TEXT_LIMIT = 1024 * 1024 // a COPY of 1600 quoted column names fits
/** Bytes a client command may need to be judged (its name and arguments stay on one line). */
const LOOKAHEAD = 256

export function createDumpGuard(engine: 'postgres' | 'mysql', file: string): DumpGuard {
  const lexer = new Lexer(engine, file)
  let carry: Buffer = Buffer.alloc(0)
  const filter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const data = carry.length ? Buffer.concat([carry, chunk]) : chunk
      try {
        carry = data.subarray(lexer.scan(data, false))
      } catch (error) {
        return callback(error as Error)
      }
      // The unscanned carry holds no newline: the client does not act on a line before its end.
      callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      try {
        if (carry.length) lexer.scan(carry, true)
        lexer.finish()
      } catch (error) {
        return callback(error as Error)
      }
      callback()
    },
  })
  return {filter, openAtEnd: () => lexer.openAtEnd}
}

class Lexer {
  private state = S.Code
  private line = 1
  private stateLine = 1
  private atLineStart = true
  private blockDepth = 0
  private dollarTag = ''
  private execComment = false // mysql /*! … */: the comment's text is code
  private statement: 'none' | 'word' | 'collect' | 'other' = 'none'
  private statementText: number[] = []
  private parenDepth = 0
  private copyNext = false // psql: COPY … FROM stdin ran; its rows start at the next line
  private escapeStrings = false // psql standard_conforming_strings = off / mysql backslash escapes
  private mysqlPending = false // mysql: its statement buffer holds text (comments and blank lines do not count)
  private ansiQuotes = false // mysql sql_mode ANSI_QUOTES: "…" is a name, without backslash escapes
  private delimiter = ';'
  private meta: {name: string; line: number; args: boolean; quote: number; text: string} | undefined
  private before: (number | undefined)[] = [undefined, undefined]
  private readonly next = new NextByte()
  openAtEnd: string | undefined

  constructor(
    private readonly engine: 'postgres' | 'mysql',
    private readonly file: string,
  ) {
    this.escapeStrings = engine === 'mysql'
  }

  /** Scan `data`; returns where scanning stopped (the rest needs bytes not yet read, unless `final`). */
  scan(data: Buffer, final: boolean): number {
    const stop = this.scanFrom(data, final)
    // the two bytes before the next scan's start (E'…' and $tag$ look back at them)
    this.before = [
      stop > 1 ? data[stop - 2] : stop === 1 ? this.before[1] : this.before[0],
      stop > 0 ? data[stop - 1] : this.before[1],
    ]
    return stop
  }

  /** The byte `back` places before `data[i]`, from an earlier chunk when needed. */
  private byteBefore(data: Buffer, i: number, back: 1 | 2): number | undefined {
    if (i - back >= 0) return data[i - back]
    return this.before[2 - back + i]
  }

  private scanFrom(data: Buffer, final: boolean): number {
    let i = 0
    const n = data.length
    while (i < n) {
      if (this.atLineStart) {
        const stop = this.lineStart(data, i, final)
        if (stop < 0) return i // needs more bytes
        i = stop
        if (i >= n) break
      }
      const c = data[i]!
      switch (this.state) {
        case S.CopyData: {
          const end = data.indexOf(NL, i)
          if (end < 0) return n
          i = this.newline(end)
          continue
        }
        case S.LineComment: {
          const end = data.indexOf(NL, i)
          if (end < 0) return n
          this.state = S.Code
          i = this.newline(end)
          continue
        }
        case S.Quote:
        case S.EQuote:
        case S.DQuote:
        case S.Backtick: {
          const close = this.state === S.DQuote ? DQUOTE : this.state === S.Backtick ? BACKTICK : SQUOTE
          const escapes =
            this.state === S.EQuote ||
            (this.engine === 'mysql' &&
              this.escapeStrings &&
              (this.state === S.Quote || (this.state === S.DQuote && !this.ansiQuotes)))
          if (c === NL) {
            i = this.newline(i)
          } else if (escapes && c === BACKSLASH) {
            if (i + 1 >= n && !final) return i
            if (data[i + 1] === NL) this.line++
            i += 2
          } else if (c === close) {
            if (i + 1 >= n && !final) return i
            // a doubled quote is one quote inside the string: E'a''b\'…' is still an escape string after it
            if (data[i + 1] === close) {
              i += 2
              continue
            }
            this.state = S.Code
            i++
          } else {
            const end = this.next.of(data, i + 1, close, escapes ? BACKSLASH : NL, NL)
            if (this.statement === 'collect') for (let k = i; k < end; k++) this.noteStatement(data[k]!)
            i = end
          }
          continue
        }
        case S.Dollar: {
          if (c === NL) {
            i = this.newline(i)
            continue
          }
          if (c === DOLLAR) {
            if (n - i < this.dollarTag.length && !final) return i
            if (data.toString('latin1', i, i + this.dollarTag.length) === this.dollarTag) {
              this.state = S.Code
              i += this.dollarTag.length
              continue
            }
          }
          i = this.next.of(data, i + 1, DOLLAR, NL, NL)
          continue
        }
        case S.BlockComment: {
          if (c === NL) i = this.newline(i)
          else if (c === STAR || c === SLASH) {
            if (i + 1 >= n && !final) return i
            const next = data[i + 1]
            if (c === STAR && next === SLASH) {
              this.blockDepth--
              i += 2
              if (this.blockDepth === 0) this.state = S.Code
            } else if (c === SLASH && next === STAR && this.engine === 'postgres') {
              this.blockDepth++ // PostgreSQL comments nest
              i += 2
            } else i++
          } else i = this.next.of(data, i + 1, STAR, SLASH, NL)
          continue
        }
        case S.Meta: {
          const stop = this.metaArgs(data, i, final)
          if (stop < 0) return i
          i = stop
          continue
        }
        default: {
          const stop = this.code(data, i, final)
          if (stop < 0) return i
          i = stop
        }
      }
    }
    return n
  }

  /** The dump's end: judge a client command cut off by it, note a string / COPY block it ends inside. */
  finish(): void {
    if (this.meta) this.judgeMeta()
    const where = {
      [S.Quote]: 'a quoted string',
      [S.EQuote]: 'a quoted string',
      [S.DQuote]: 'a double-quoted name or string',
      [S.Backtick]: 'a backquoted name',
      [S.Dollar]: 'a dollar-quoted string',
      [S.BlockComment]: 'a /* comment',
      [S.CopyData]: 'a COPY block',
    } as Partial<Record<S, string>>
    const what = where[this.state] ?? (this.copyNext ? 'a COPY block' : undefined)
    if (what) this.openAtEnd = `${what} begun at line ${this.stateLine}`
  }

  private newline(at: number): number {
    this.line++
    this.atLineStart = true
    return at + 1
  }

  private enter(state: S): void {
    this.state = state
    this.stateLine = this.line
  }

  /** At a line's start: COPY rows begin or end here; mysql's named commands are recognized here. */
  private lineStart(data: Buffer, i: number, final: boolean): number {
    if (this.copyNext) {
      this.copyNext = false
      this.enter(S.CopyData)
    }
    if (this.state === S.CopyData) {
      if (data.length - i < 4 && !final && data.indexOf(NL, i) < 0) return -1
      if (data[i] === BACKSLASH && data[i + 1] === 0x2e) {
        const after = data[i + 2]
        if (after === NL || after === undefined || (after === CR && data[i + 3] === NL)) {
          this.state = S.Code // the end of the COPY rows: `\.`
          const end = data.indexOf(NL, i)
          this.atLineStart = false
          return end < 0 ? data.length : this.newline(end)
        }
      }
      this.atLineStart = false
      return i
    }
    if (this.engine === 'mysql' && this.state === S.Code) {
      const end = data.indexOf(NL, i)
      if (end < 0 && data.length - i < LOOKAHEAD && !final) return -1
      const text = data.toString(
        'latin1',
        i,
        end < 0 ? Math.min(data.length, i + LOOKAHEAD) : Math.min(end, i + LOOKAHEAD),
      )
      const word = /^\s*([A-Za-z]+)(?=$|[\s;])/.exec(text)?.[1]?.toLowerCase()
      // only a SET statement's own text: a row of data may well read `sql_mode=…` (mariadb-dump puts each row at a
      // line's start)
      const setStatement = !this.mysqlPending && /^\s*(?:\/\*M?!\d*\s*)?SET\s/i.test(text)
      const mode = setStatement ? /\bsql_mode\s*:?=\s*([^;]*)/i.exec(text) : null
      if (mode) {
        this.escapeStrings = !/NO_BACKSLASH_ESCAPES/i.test(mode[1]!)
        this.ansiQuotes = /ANSI_QUOTES|\bANSI\b/i.test(mode[1]!)
      }
      // mysql takes a named command only where its statement buffer is empty (so `EXIT WHEN …` in a routine is SQL)
      if (word && MYSQL_REFUSED_WORDS.has(word) && !this.mysqlPending)
        this.refuse(`'${text.trim().slice(0, 60)}'`, 'mysql')
      if (word === 'delimiter') {
        const next = /^\s*delimiter\s+(\S+)/i.exec(text)?.[1]
        if (next) this.delimiter = next
        this.atLineStart = false
        return end < 0 ? data.length : this.newline(end)
      }
    }
    this.atLineStart = false
    return i
  }

  /** One step in code (outside strings and comments); returns the next position, or -1 to wait for more bytes. */
  private code(data: Buffer, i: number, final: boolean): number {
    const c = data[i]!
    const n = data.length
    const next = i + 1 < n ? data[i + 1] : undefined
    const needMore = next === undefined && !final
    if (c === NL) {
      return this.newline(i)
    }
    if (c === SQUOTE) {
      const prev = this.byteBefore(data, i, 1)
      const prev2 = this.byteBefore(data, i, 2)
      // psql: E'…' is an escape string; so is every '…' with standard_conforming_strings off
      const eString =
        this.engine === 'postgres' && (this.escapeStrings || ((prev === 0x45 || prev === 0x65) && !isWordByte(prev2)))
      this.enter(eString ? S.EQuote : S.Quote)
      this.noteStatement(c)
      return i + 1
    }
    if (c === DQUOTE) {
      this.enter(S.DQuote)
      this.noteStatement(c)
      return i + 1
    }
    if (c === BACKTICK && this.engine === 'mysql') {
      this.enter(S.Backtick)
      this.noteStatement(c)
      return i + 1
    }
    if (c === DASH) {
      if (needMore) return -1
      // mysql: `-- ` needs a space or control character after it
      if (next === DASH && (this.engine === 'postgres' || (data[i + 2] ?? NL) <= 0x20)) {
        if (this.engine === 'mysql' && i + 2 >= n && !final) return -1
        this.enter(S.LineComment)
        return i + 2
      }
    }
    if (c === HASH && this.engine === 'mysql') {
      this.enter(S.LineComment)
      return i + 1
    }
    if (c === SLASH && next === STAR) {
      if (this.engine === 'mysql') {
        if (i + 12 >= n && !final && data.indexOf(NL, i) < 0) return -1
        const marker = /^\/\*M?!\d*/.exec(data.toString('latin1', i, Math.min(n, i + 12)))
        if (marker) {
          this.execComment = true // /*!50003 … */ and MariaDB's /*M!100100 … */ are code
          this.mysqlPending = true
          return i + marker[0].length
        }
      }
      this.enter(S.BlockComment)
      this.blockDepth = 1
      return i + 2
    }
    if (c === SLASH && needMore) return -1
    if (c === STAR && this.execComment) {
      if (needMore) return -1
      if (next === SLASH) {
        this.execComment = false
        return i + 2
      }
    }
    if (c === BACKSLASH) {
      if (needMore) return -1
      return this.engine === 'postgres' ? this.startMeta(data, i, final) : this.mysqlCommand(data, i)
    }
    if (c === DOLLAR && this.engine === 'postgres' && !isWordByte(this.byteBefore(data, i, 1))) {
      const tag = /^\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$/.exec(
        data.toString('latin1', i, Math.min(n, i + LOOKAHEAD)),
      )
      if (tag) {
        this.dollarTag = tag[0]
        this.enter(S.Dollar)
        this.noteStatement(c)
        return i + tag[0].length
      }
      if (!final && n - i < LOOKAHEAD && data.indexOf(NL, i) < 0) return -1
    }
    if (c === 0x28) this.parenDepth++
    else if (c === 0x29) this.parenDepth = Math.max(0, this.parenDepth - 1)
    if (this.endsStatement(data, i)) {
      this.statementEnd()
      return i + this.delimiterLength()
    }
    this.noteStatement(c)
    return i + 1
  }

  private delimiterLength(): number {
    return this.engine === 'mysql' ? this.delimiter.length : 1
  }

  private endsStatement(data: Buffer, i: number): boolean {
    if (this.engine === 'postgres') return data[i] === SEMI && this.parenDepth === 0
    if (data[i] !== this.delimiter.charCodeAt(0)) return false
    return this.delimiter.length === 1 || data.toString('latin1', i, i + this.delimiter.length) === this.delimiter
  }

  /** psql: keep the text of statements that set a mode the lexer follows (COPY rows, escape strings). */
  private noteStatement(c: number): void {
    if (this.engine === 'mysql') {
      if (c > 0x20) this.mysqlPending = true
      return
    }
    if (this.statement === 'other') return
    if (this.statement === 'collect') {
      if (this.statementText.length < STATEMENT_TEXT_LIMIT) this.statementText.push(c)
      return
    }
    if (this.statement === 'none') {
      if (c <= 0x20) return
      this.statement = 'word'
      this.statementText = []
    }
    if (isWordByte(c) && this.statementText.length < 8) {
      this.statementText.push(c)
      return
    }
    if (/^(copy|set|select)$/i.test(Buffer.from(this.statementText).toString('latin1'))) {
      this.statement = 'collect'
      this.statementText.push(c)
    } else this.statement = 'other'
  }

  private statementEnd(): void {
    if (this.engine === 'postgres' && this.statement === 'collect') {
      const text = Buffer.from(this.statementText).toString('latin1')
      if (/^copy\b[\s\S]*\bfrom\s*p?stdin\b/i.test(text)) this.copyNext = true
      const scs = /standard_conforming_strings['"\s]*(?:=|to|,)\s*'?(on|off|true|false)/i.exec(text)
      if (scs) this.escapeStrings = /^(off|false)$/i.test(scs[1]!)
    }
    this.statement = 'none'
    this.statementText = []
    this.parenDepth = 0
    this.mysqlPending = false
  }

  /** psql: a backslash in code starts a meta-command; its name runs to whitespace or a backslash. */
  private startMeta(data: Buffer, i: number, final: boolean): number {
    let end = i + 1
    while (end < data.length && data[end]! > 0x20 && data[end] !== BACKSLASH) end++
    if (end >= data.length && !final) return -1
    if (end === i + 1 && data[end] === BACKSLASH) return i + 2 // `\\`: a separator
    this.meta = {name: data.toString('latin1', i + 1, end), line: this.line, args: false, quote: 0, text: ''}
    this.state = S.Meta
    return end
  }

  /** psql: a meta-command's arguments, to the end of the line or a `\\`; an unquoted backquote runs a shell. */
  private metaArgs(data: Buffer, i: number, final: boolean): number {
    const meta = this.meta!
    const c = data[i]!
    if (c === NL || (meta.quote === 0 && c === BACKSLASH)) {
      if (c === BACKSLASH && i + 1 >= data.length && !final) return -1
      this.judgeMeta()
      this.state = S.Code
      if (c === NL) return this.newline(i)
      return data[i + 1] === BACKSLASH ? i + 2 : i // `\\` ends it; another `\` starts the next command
    }
    if (meta.quote) {
      if (c === BACKSLASH && meta.quote === SQUOTE) {
        if (i + 1 >= data.length && !final) return -1
        meta.text += data.toString('latin1', i, i + 2)
        return i + 2
      }
      if (c === meta.quote) meta.quote = 0
    } else if (c === SQUOTE || c === DQUOTE) meta.quote = c
    else if (c === BACKTICK) this.refuse(`\\${meta.name} with a \`command\` in its arguments`, 'psql', meta.line)
    if (c > 0x20) meta.args = true
    if (CONNECT.has(meta.name) && meta.text.length < CONNECT_TEXT_LIMIT) meta.text += String.fromCharCode(c)
    return i + 1
  }

  private judgeMeta(): void {
    const meta = this.meta!
    this.meta = undefined
    if (CONNECT.has(meta.name) && !connectsAsPgDump(meta.text))
      this.refuse(`\\${meta.name} to a server or with options pg_dump never names`, 'psql', meta.line)
    if (PSQL_ALLOWED.has(meta.name)) return
    if (PSQL_ALLOWED_BARE.has(meta.name) && !meta.args) return
    this.refuse(`\\${meta.name}`, 'psql', meta.line)
  }

  /** mysql: a backslash in code is a one-letter client command (`\!`, `\.`, `\T`, `\q`, …). */
  private mysqlCommand(data: Buffer, i: number): number {
    const letter = String.fromCharCode(data[i + 1]!)
    if (!MYSQL_ALLOWED_LETTERS.has(letter)) this.refuse(`\\${letter}`, 'mysql')
    if (letter === 'g' || letter === 'G' || letter === 'c')
      this.mysqlPending = false // sent or cleared
    else this.mysqlPending = true
    return i + 2
  }

  private refuse(command: string, client: 'psql' | 'mysql', line = this.line): never {
    const writer = this.engine === 'postgres' ? 'pg_dump' : 'mysqldump'
    throw new BkError(
      `the dump ${this.file} has the ${client} command ${command} at line ${line}, which ${writer} never writes and bk will not run (it acts outside the database or ends the load early)`,
      {code: 'EDUMPCOMMAND'},
    )
  }
}

const CONNECT = new Set(['c', 'connect'])
/** Bytes of a `\\connect` line kept to judge it: a name is at most 63 bytes, quoted twice. */
const CONNECT_TEXT_LIMIT = 1024

/**
 * pg_dump / pg_dumpall write `\connect name` or `\connect -reuse-previous=on "dbname='…'"`; an old dump may add a
 * user (`\connect - user`). A host, port or other option would send the restore's PGPASSWORD to that server.
 */
function connectsAsPgDump(text: string): boolean {
  const words = metaWords(text)
  if (words === undefined) return false
  if (/^-reuse-previous=(on|off)$/i.test(words[0] ?? '')) words.shift()
  if (words.length > 2) return false // a third word is a host
  const dbname = words[0] ?? ''
  // psql takes a first word with `=` or a URI as a connection string: pg_dump's holds dbname alone
  if (!dbname.includes('=') && !/^postgres(ql)?:/i.test(dbname)) return true
  return /^dbname=(?:[A-Za-z0-9_.]+|'(?:[^'\\]|\\[\s\S])*')$/.test(dbname)
}

/** psql's split of meta-command arguments: "…" with "" for a quote, '…' with backslash escapes; undefined if cut. */
function metaWords(text: string): string[] | undefined {
  const words: string[] = []
  const pattern = /\s*((?:"(?:[^"]|"")*"|'(?:[^'\\]|\\[\s\S])*'|[^\s"'])+)/y
  let at = 0
  while (at < text.length) {
    const match = pattern.exec(text)
    if (!match) break
    at = pattern.lastIndex
    words.push(
      match[1]!.replace(/"((?:[^"]|"")*)"|'((?:[^'\\]|\\[\s\S])*)'/g, (_m, dq?: string, sq?: string) =>
        dq !== undefined ? dq.replace(/""/g, '"') : sq!.replace(/\\([\s\S])/g, '$1'),
      ),
    )
  }
  return text.slice(at).trim() ? undefined : words
}

function isWordByte(c: number | undefined): boolean {
  if (c === undefined) return false
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f ||
    c >= 0x80 ||
    c === DOLLAR
  )
}

/**
 * The first position at or after `from` of any of three bytes, or the end: by the native indexOf, each byte's next
 * position remembered until the scan passes it (a string runs to its quote without a byte-by-byte loop in JS, and a
 * long line is not searched again for its newline at every string).
 */
class NextByte {
  private data: Buffer | undefined
  private readonly at = new Float64Array(256).fill(-1)

  of(data: Buffer, from: number, a: number, b: number, c: number): number {
    if (data !== this.data) {
      this.data = data
      this.at.fill(-1)
    }
    return Math.min(this.find(data, from, a), this.find(data, from, b), this.find(data, from, c))
  }

  private find(data: Buffer, from: number, byte: number): number {
    let at = this.at[byte]!
    if (at < from) {
      at = data.indexOf(byte, from)
      if (at < 0) at = data.length
      this.at[byte] = at
    }
    return at
  }
}
