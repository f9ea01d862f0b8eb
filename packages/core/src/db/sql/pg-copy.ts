/**
 * `COPY <table> (<columns>) FROM STDIN` for node-postgres, as a Submittable (the query object pg's client accepts
 * besides text): the rows go to the server as one stream of CopyData messages in COPY's text format, which it
 * parses far more cheaply than a many-row INSERT (no statement to parse and plan per batch, no parameter per
 * value). Only for rows of plain values (see `copyable`); anything else keeps the INSERT path.
 */
import type pg from 'pg'
import {quoteIdent} from './quote.js'
import type {SqlRow} from './types.js'

/** Bytes per CopyData message. */
const CHUNK = 1 << 16

/**
 * Whether every value has the same text in COPY as pg gives a query parameter (`String(v)`; null as NULL).
 * Buffers (sent as binary parameters), dates (formatted by pg in the local zone), arrays and objects are not.
 */
export function copyable(rows: SqlRow[]): boolean {
  for (const row of rows) {
    for (const v of row) {
      if (v === null || v === undefined) continue
      const t = typeof v
      if (t !== 'string' && t !== 'number' && t !== 'bigint' && t !== 'boolean') return false
    }
  }
  return true
}

/** COPY text format: backslash, tab, newline and carriage return escaped; NULL is `\N`. */
function field(v: unknown): string {
  if (v === null || v === undefined) return '\\N'
  const s = String(v)
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, escapeChar) : s
}

function escapeChar(c: string): string {
  return c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'
}

/** The rows in COPY's text format, in messages of about CHUNK bytes. */
function encode(rows: SqlRow[]): Buffer[] {
  const chunks: Buffer[] = []
  let text = ''
  for (const row of rows) {
    let line = ''
    for (let i = 0; i < row.length; i++) line += (i === 0 ? '' : '\t') + field(row[i])
    text += `${line}\n`
    if (text.length >= CHUNK) {
      chunks.push(Buffer.from(text, 'utf8'))
      text = ''
    }
  }
  if (text !== '') chunks.push(Buffer.from(text, 'utf8'))
  return chunks
}

/** The copy-in messages of pg's Connection (there since pg 4; not in @types/pg). */
interface CopyIn {
  sendCopyFromChunk(chunk: Buffer): void
  endCopyFrom(): void
}

class CopyFromStdin implements pg.Submittable {
  readonly done: Promise<void>
  private resolve!: () => void
  private reject!: (error: Error) => void
  private failed = false
  constructor(
    private readonly text: string,
    private readonly chunks: Buffer[],
  ) {
    this.done = new Promise((res, rej) => {
      this.resolve = res
      this.reject = rej
    })
  }

  submit(connection: pg.Connection): void {
    connection.query(this.text)
  }

  handleCopyInResponse(connection: pg.Connection): void {
    const copyIn = connection as unknown as CopyIn
    for (const chunk of this.chunks) copyIn.sendCopyFromChunk(chunk)
    copyIn.endCopyFrom()
  }

  handleError(error: Error): void {
    this.failed = true
    this.reject(error)
  }

  handleReadyForQuery(): void {
    if (!this.failed) this.resolve()
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** Loads `rows` into `table` with one COPY FROM STDIN (inside the caller's transaction, if any). */
export async function copyRows(client: pg.Client, table: string, columns: string[], rows: SqlRow[]): Promise<void> {
  const cols = columns.map((c) => quoteIdent('postgres', c)).join(',')
  const copy = new CopyFromStdin(`COPY ${quoteIdent('postgres', table)} (${cols}) FROM STDIN`, encode(rows))
  client.query(copy)
  await copy.done
}
