import {Transform, type TransformCallback} from 'node:stream'
import {quoteMysqlIdent, quotePgIdent} from './quote.js'

/**
 * What to do with the statements of a dump that create and switch to its own database (`pg_dump -C`:
 * `CREATE DATABASE`, `ALTER DATABASE … OWNER`, `\connect`; `mysqldump --databases`: `CREATE DATABASE`, `USE`):
 * - 'skip': drop them, load into the target database (which must exist); other `… DATABASE <name>` statements
 *   (properties, comments) are renamed to it;
 * - 'rewrite': keep them, renamed to the target database (the dump creates it; a dump without them gets a
 *   `CREATE DATABASE` + `\\connect`/`USE` of the target put in front);
 * - 'keep': load the dump as it is.
 */
export type CreateStatements = 'skip' | 'rewrite' | 'keep'

const HEADER_LIMIT = 4 * 1024 * 1024
const NEWLINE = 0x0a

/**
 * A stream that rewrites the database-level statements at the head of a dump, then passes the rest through
 * untouched (the data is never split into lines or decoded).
 */
export function createStatementsFilter(
  engine: 'postgres' | 'mysql',
  mode: CreateStatements,
  target: string,
): Transform {
  let header = mode !== 'keep'
  let pending: Buffer = Buffer.alloc(0)
  let seen = 0
  let dumpName: string | undefined
  const headerOut: string[] = []
  const rewriteLine = (line: string): void => {
    const result = engine === 'postgres' ? pgLine(line, mode, target, dumpName) : mysqlLine(line, mode, target)
    if (result.dumpName) dumpName = result.dumpName
    if (result.endOfHeader) header = false
    else if (result.line !== undefined) headerOut.push(result.line)
  }
  /**
   * The rewritten header, held back until its end: a 'rewrite' of a dump that does not create its database
   * (plain pg_dump / mysqldump) must still land in the target, not in the database the client started in — so
   * the creating statements go first, before the header's session settings.
   */
  const releaseHeader = (): string => {
    const preamble = mode === 'rewrite' && !dumpName ? createPreamble(engine, target) : ''
    const text = preamble + headerOut.join('')
    headerOut.length = 0
    return text
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!header) return callback(null, chunk)
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      let start = 0
      while (header) {
        const end = pending.indexOf(NEWLINE, start)
        if (end < 0) break
        rewriteLine(pending.subarray(start, end + 1).toString('utf8'))
        if (!header) break // this line starts the body: pass it on unchanged with the rest
        start = end + 1
      }
      seen += start
      pending = pending.subarray(start)
      if (!header || seen + pending.length > HEADER_LIMIT) {
        header = false
        this.push(releaseHeader())
        const rest = pending
        pending = Buffer.alloc(0)
        return callback(null, rest.length ? rest : undefined)
      }
      callback()
    },
    flush(callback: TransformCallback) {
      if (header) {
        if (pending.length) rewriteLine(pending.toString('utf8'))
        const text = releaseHeader() + (header ? '' : pending.toString('utf8'))
        pending = Buffer.alloc(0)
        return callback(null, text || undefined)
      }
      if (pending.length) return callback(null, pending)
      callback()
    },
  })
}

function createPreamble(engine: 'postgres' | 'mysql', target: string): string {
  if (engine === 'mysql') {
    const name = quoteMysqlIdent(target)
    return `CREATE DATABASE ${name};\nUSE ${name};\n`
  }
  return `CREATE DATABASE ${quotePgIdent(target)};\n${pgConnectLine(target)}`
}

interface LineResult {
  line?: string
  dumpName?: string
  endOfHeader?: boolean
}

/** Lines that can appear before the first object of a dump. Anything else ends the header. */
function isHeaderLine(line: string): boolean {
  const text = line.trimStart()
  return (
    text === '' ||
    text.startsWith('--') ||
    text.startsWith('/*') ||
    text.startsWith('\\') ||
    /^(SET|SELECT pg_catalog\.set_config|CREATE DATABASE|ALTER DATABASE|COMMENT ON DATABASE|SECURITY LABEL ON DATABASE|GRANT|REVOKE|USE|CREATE SCHEMA|ALTER SCHEMA|COMMENT ON SCHEMA)\b/i.test(
      text,
    )
  )
}

const PG_NAME = String.raw`("(?:[^"]|"")+"|[^\s;"]+)`

function pgConnectLine(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name)) return `\\connect ${name}\n`
  const conninfo = `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  return `\\connect -reuse-previous=on "${conninfo.replace(/"/g, '""')}"\n`
}

function pgLine(line: string, mode: CreateStatements, target: string, dumpName?: string): LineResult {
  if (!isHeaderLine(line)) return {line, endOfHeader: true}
  const create = line.match(new RegExp(`^CREATE DATABASE ${PG_NAME}`))
  if (create?.[1]) {
    const name = create[1]
    if (mode === 'skip') return {dumpName: name}
    const head = `CREATE DATABASE ${name}`
    return {dumpName: name, line: `CREATE DATABASE ${quotePgIdent(target)}${line.slice(head.length)}`}
  }
  // `pg_dump -n public` (Trac's dumps) creates the public schema, which every new database already has.
  const schema = line.match(/^CREATE SCHEMA (?!IF NOT EXISTS)(.*)$/s)
  if (schema) return {line: `CREATE SCHEMA IF NOT EXISTS ${schema[1]}`}
  if (dumpName && /^\\connect\b/.test(line)) {
    return mode === 'skip' ? {} : {line: pgConnectLine(target)}
  }
  if (dumpName) {
    const onDb = new RegExp(
      String.raw`^((?:ALTER|COMMENT ON|SECURITY LABEL ON|GRANT .* ON|REVOKE .* ON) DATABASE )${escapeRegExp(dumpName)}(?=[\s;])`,
    )
    const found = onDb.exec(line)
    if (found) {
      const rest = line.slice(found[0].length)
      // The owner of a database bk did not create may not exist here: 'skip' leaves ownership to the caller.
      if (mode === 'skip' && found[1] === 'ALTER DATABASE ' && /^\s+OWNER TO\b/.test(rest)) return {}
      return {line: `${found[1]}${quotePgIdent(target)}${rest}`}
    }
  }
  return {line}
}

function mysqlLine(line: string, mode: CreateStatements, target: string): LineResult {
  if (!isHeaderLine(line)) return {line, endOfHeader: true}
  const create = line.match(/^CREATE DATABASE (?:\/\*!\d+ IF NOT EXISTS\s*\*\/ |IF NOT EXISTS )?(`(?:[^`]|``)+`)/)
  if (create?.[1]) {
    if (mode === 'skip') return {dumpName: create[1]}
    const at = line.indexOf(create[1])
    return {dumpName: create[1], line: line.slice(0, at) + quoteMysqlIdent(target) + line.slice(at + create[1].length)}
  }
  const use = line.match(/^USE (`(?:[^`]|``)+`);/)
  if (use?.[1]) {
    if (mode === 'skip') return {}
    return {line: `USE ${quoteMysqlIdent(target)};\n`}
  }
  return {line}
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const DEFINER = /\s*DEFINER\s*=\s*(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s@]+)@(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s*]+)/g
const DEFINER_BYTES = Buffer.from('DEFINER')

/**
 * Remove `DEFINER=user@host` clauses of views, triggers, routines and events from a mysqldump stream, so the
 * dump loads under another account. Data lines (INSERT) are left alone; only lines mentioning DEFINER are decoded.
 */
export function stripDefinerFilter(): Transform {
  let pending: Buffer = Buffer.alloc(0)
  const fix = (line: Buffer): Buffer => {
    if (line.indexOf(DEFINER_BYTES) < 0 || line.subarray(0, 12).toString('latin1').startsWith('INSERT INTO'))
      return line
    return Buffer.from(line.toString('utf8').replace(DEFINER, ''), 'utf8')
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const data = pending.length ? Buffer.concat([pending, chunk]) : chunk
      const last = data.lastIndexOf(NEWLINE)
      if (last < 0) {
        pending = data
        return callback()
      }
      pending = data.subarray(last + 1)
      let start = 0
      const body = data.subarray(0, last + 1)
      if (body.indexOf(DEFINER_BYTES) < 0) return callback(null, body)
      while (start < body.length) {
        const end = body.indexOf(NEWLINE, start)
        this.push(fix(body.subarray(start, end + 1)))
        start = end + 1
      }
      callback()
    },
    flush(callback: TransformCallback) {
      callback(null, pending.length ? fix(pending) : undefined)
    },
  })
}

/** Counts the bytes that pass (for progress). */
export function byteCounter(onBytes: (total: number) => void): Transform {
  let total = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length
      onBytes(total)
      callback(null, chunk)
    },
  })
}
