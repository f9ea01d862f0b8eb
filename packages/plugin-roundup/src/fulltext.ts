/**
 * Roundup's full-text index, filled natively so a tracker bk imported, migrated or moved is searchable at once
 * (no `roundup-admin reindex`). What goes in follows Roundup's indexers:
 * - `native` (indexer_rdbms): per indexed text one `__textids` row (`_textid` from the `__textids` counter) and
 *   one `__words` row per distinct word: the text upper-cased, words of 2 to 50 word characters (Unicode letters,
 *   digits, underscore) between word boundaries, stopwords left out (Roundup's list plus `[main]
 *   indexer_stopwords`, compared with the upper-cased word as Roundup does).
 * - `native-fts`: one `__fts` row per text — sqlite FTS5 gets the text as is, PostgreSQL `to_tsvector(<[main]
 *   indexer_language>, text)`, as indexer_sqlite_fts / indexer_postgresql_fts insert them.
 * Indexed texts: String properties with `indexme='yes'` (an IssueClass's `title` by default) and a FileClass's
 * `content` when its `type` is empty or exactly `text/plain` (the file's bytes as UTF-8, invalid bytes dropped).
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Pipeline, readAhead} from './pipeline.js'
import {allProps, type ClassDef, type TrackerSchema} from './schema.js'
import type {Tracker} from './tracker.js'
import type {SqlConn} from './tracker-db.js'

/** indexer_common.STOPWORDS */
export const STOPWORDS = [
  'A',
  'AND',
  'ARE',
  'AS',
  'AT',
  'BE',
  'BUT',
  'BY',
  'FOR',
  'IF',
  'IN',
  'INTO',
  'IS',
  'IT',
  'NO',
  'NOT',
  'OF',
  'ON',
  'OR',
  'SUCH',
  'THAT',
  'THE',
  'THEIR',
  'THEN',
  'THERE',
  'THESE',
  'THEY',
  'THIS',
  'TO',
  'WAS',
  'WILL',
  'WITH',
]

export interface IndexerSettings {
  /** `[main] indexer` as written ('' = Roundup picks xapian, whoosh, else native) */
  name: string
  /** which tables bk fills: __words/__textids, __fts, or none (xapian/whoosh keep their index in files) */
  fills: 'words' | 'fts' | 'none'
  stopwords: Set<string>
  language: string
}

/** The tracker's indexer settings from config.ini. */
export function indexerSettings(tracker: Tracker): IndexerSettings {
  const name = (tracker.config.get('main', 'indexer') ?? '').trim()
  const stopwords = new Set(STOPWORDS)
  // WordListOption: value.split(','), added as written (Roundup does not upper-case them)
  for (const w of (tracker.config.get('main', 'indexer_stopwords') ?? '').split(',')) stopwords.add(w)
  const language = (tracker.config.get('main', 'indexer_language') ?? '').trim() || 'english'
  const fills = name === '' || name === 'native' ? 'words' : name === 'native-fts' ? 'fts' : 'none'
  return {name, fills, stopwords, language}
}

/** What separates words: anything but a Unicode letter, digit or underscore. */
const NON_WORD = /[^\p{L}\p{N}_]+/u
/** The same in an upper-cased ASCII text (cheaper to match) */
const NON_WORD_ASCII = /[^A-Z0-9_]+/
const NON_ASCII = /[^\p{ASCII}]/u

/**
 * The distinct words indexer_rdbms stores for a text (upper-cased, 2–50 word characters, no stopwords): the
 * maximal runs of word characters (a split on the rest, cheaper than a match with look-behind and look-ahead)
 * of 2 to 50 code points; a longer run is no word at all.
 */
export function indexWords(text: string, stopwords: ReadonlySet<string> = new Set(STOPWORDS)): string[] {
  const words = new Set<string>()
  const upper = text.toUpperCase()
  for (const run of upper.split(NON_ASCII.test(upper) ? NON_WORD : NON_WORD_ASCII)) {
    const n = run.length
    // code units: 2 code points take 2 to 4, 50 take 50 to 100; count code points only in between
    if (n < 2 || n > 100) continue
    if (n > 50 || /[\uD800-\uDFFF]/.test(run)) {
      let points = 0
      for (const _ of run) points++
      if (points < 2 || points > 50) continue
    }
    if (!stopwords.has(run)) words.add(run)
  }
  return [...words]
}

/**
 * bytes.decode('utf-8', errors='ignore'): valid sequences kept, invalid bytes dropped. (Skipping one byte at a
 * time drops the same bytes as Python's maximal-subpart rule: a continuation byte is never a valid start.)
 */
export function decodeUtf8Ignore(buf: Uint8Array): string {
  const fast = new TextDecoder('utf-8').decode(buf)
  if (!fast.includes('\uFFFD')) return fast
  let out = ''
  let i = 0
  while (i < buf.length) {
    const b = buf[i] as number
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (n === 1) {
      out += String.fromCharCode(b)
      i++
      continue
    }
    let cp = n === 0 ? -1 : b & (0xff >> (n + 1))
    for (let k = 1; k < n && cp >= 0; k++) {
      const c = buf[i + k]
      cp = c !== undefined && (c & 0xc0) === 0x80 ? (cp << 6) | (c & 0x3f) : -1
    }
    const min = n === 3 ? 0x800 : n === 4 ? 0x10000 : 0
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      i++
      continue
    }
    out += String.fromCodePoint(cp)
    i += n
  }
  return out
}

/** The String properties of a class Roundup sends to its indexer (FileClass `content` aside), sorted by name. */
export function indexedStringProps(cls: ClassDef): string[] {
  const out: string[] = []
  for (const p of allProps(cls).values()) {
    if (p.type !== 'String' || p.name === 'content' || p.name === 'id') continue
    const indexme = p.indexme ?? (cls.kind === 'IssueClass' && p.name === 'title')
    if (indexme) out.push(p.name)
  }
  return out.sort()
}

/** Whether a FileClass's content is indexed (String(indexme='yes') unless schema.py says otherwise). */
function contentIndexed(cls: ClassDef): boolean {
  if (cls.kind !== 'FileClass') return false
  const p = cls.props.find((x) => x.name === 'content')
  return p?.indexme ?? true
}

/** Where a FileClass item's content is under a `files` root: `<root>/<class>/<id//1000>/<class><id>` (.tmp, flat). */
export function contentPath(root: string, cls: string, id: number): string | undefined {
  const sub = join(root, cls, String(Math.floor(id / 1000)), `${cls}${id}`)
  for (const p of [sub, `${sub}.tmp`, join(root, `${cls}${id}`)]) if (existsSync(p)) return p
  return undefined
}

export interface FillOptions {
  /** the bytes of a FileClass item's content; undefined: not indexed (e.g. importtables, or no such file) */
  content?: (cls: string, id: number) => Promise<Buffer | undefined>
  /** first `_textid` (the `__textids` counter's next value; 1 in a new database) */
  firstTextId?: number
}

export interface FillResult {
  /** texts indexed (__textids or __fts rows) */
  texts: number
  /** __words rows */
  words: number
}

const BATCH = 500
const PAGE = 1000

/**
 * Fill the full-text tables of a freshly written tracker database from its own rows, inside the caller's
 * transaction, and set the `__textids` counter. Every item is indexed, retired ones too (as roundup-admin
 * import does), in class order, by id.
 */
export async function fillFullText(
  conn: SqlConn,
  schema: TrackerSchema,
  settings: IndexerSettings,
  options: FillOptions = {},
): Promise<FillResult> {
  const result: FillResult = {texts: 0, words: 0}
  if (settings.fills === 'none') return result
  if (settings.fills === 'fts' && conn.backend === 'mysql') return result // Roundup: native-fts is sqlite/postgres only
  let textId = options.firstTextId ?? 1
  const content = options.content ?? (async () => undefined)
  const textRows: unknown[][] = []
  const wordRows: unknown[][] = []
  const ftsRows: unknown[][] = []
  // one insert in flight while the next batch is made (the connection runs its statements in order)
  const inserts = new Pipeline()
  const flush = async (force = false) => {
    if (textRows.length >= BATCH || (force && textRows.length > 0)) {
      const rows = textRows.splice(0)
      await inserts.add(() => conn.insertMany('__textids', ['_textid', '_class', '_itemid', '_prop'], rows))
    }
    if (wordRows.length >= BATCH * 4 || (force && wordRows.length > 0)) {
      const rows = wordRows.splice(0)
      await inserts.add(() => conn.insertMany('__words', ['_word', '_textid'], rows))
    }
    if (ftsRows.length >= BATCH || (force && ftsRows.length > 0)) {
      const rows = ftsRows.splice(0)
      await inserts.add(() => insertFts(conn, settings, rows))
    }
  }
  const add = async (cls: string, id: number, prop: string, text: string) => {
    result.texts++
    if (settings.fills === 'fts') {
      ftsRows.push([cls, String(id), prop, text])
    } else {
      const tid = textId++
      textRows.push([tid, cls, String(id), prop])
      for (const w of indexWords(text, settings.stopwords)) wordRows.push([w, tid])
    }
    await flush()
  }
  for (const cls of schema.classes) {
    const strings = indexedStringProps(cls)
    const withContent = contentIndexed(cls) && options.content !== undefined
    if (strings.length === 0 && !withContent) continue
    const hasType = withContent && cls.props.some((p) => p.name === 'type')
    const cols = ['id', ...strings.map((s) => `_${s}`), ...(hasType ? ['_type'] : [])]
    // a content is indexed when its type is empty or exactly text/plain
    const plainText = (row: unknown[]) => {
      const type = hasType ? row[cols.length - 1] : null
      const mime = type === null || type === undefined || type === '' ? 'text/plain' : String(type)
      return mime === 'text/plain'
    }
    let last = 0
    for (;;) {
      const rows = await conn.all(
        `select ${cols.join(',')} from _${cls.name} where id > ${conn.arg(1)} order by id limit ${PAGE}`,
        [last],
      )
      if (rows.length === 0) break
      // the contents of this page's texts, read a few ahead of the indexing (in order, bounded)
      const contents = withContent
        ? readAhead(rows.filter(plainText), (row) => content(cls.name, Number(row[0])))
        : undefined
      for (const row of rows) {
        const id = Number(row[0])
        for (const [i, prop] of strings.entries()) {
          const v = row[i + 1]
          // import_list: a None value is not indexed, an empty string is (a text id without words)
          if (v !== null && v !== undefined)
            await add(cls.name, id, prop, Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
        }
        if (withContent) {
          if (!plainText(row)) continue
          const bytes = await contents?.next()
          if (bytes !== undefined) await add(cls.name, id, 'content', decodeUtf8Ignore(bytes))
        }
      }
      last = Number(rows[rows.length - 1]?.[0])
    }
  }
  await flush(true)
  await inserts.drain()
  if (settings.fills === 'words') {
    result.words = await countWords(conn)
    await setTextIdCounter(conn, textId)
  }
  return result
}

async function countWords(conn: SqlConn): Promise<number> {
  const [row] = await conn.all('select count(*) from __words')
  return Number(row?.[0] ?? 0)
}

/** The `__textids` counter so the next text id is `next`. */
export async function setTextIdCounter(conn: SqlConn, next: number): Promise<void> {
  if (conn.backend === 'postgresql') {
    if (next > 1) await conn.run(`select setval('___textids_ids', ${conn.arg(1)})`, [next - 1])
  } else {
    await conn.run(`update ids set num=${conn.arg(1)} where name=${conn.arg(2)}`, [next, '__textids'])
  }
}

async function insertFts(conn: SqlConn, settings: IndexerSettings, rows: unknown[][]): Promise<void> {
  if (conn.backend === 'sqlite') {
    await conn.insertMany('__fts', ['_class', '_itemid', '_prop', '_textblob'], rows)
    return
  }
  // PostgreSQL: the server makes the tsvector, with the tracker's language (indexer_postgresql_fts)
  const values: string[] = []
  const params: unknown[] = []
  for (const [c, i, p, t] of rows) {
    const n = params.length
    values.push(`($${n + 1}, $${n + 2}, $${n + 3}, to_tsvector($${n + 4}::regconfig, $${n + 5}))`)
    params.push(c, i, p, settings.language, t)
  }
  await conn.run(`insert into __fts (_class, _itemid, _prop, _tsv) values ${values.join(', ')}`, params)
}

/**
 * A FillOptions.content reading a tracker's `db/files` (or any tree of that layout). Synchronous reads: contents are
 * mostly small messages, and a few syscalls in this thread cost less than the thread-pool round trips of
 * fs/promises' open, fstat, read and close for each.
 */
export function contentFromFiles(root: string): (cls: string, id: number) => Promise<Buffer | undefined> {
  return async (cls, id) => {
    const sub = join(root, cls, String(Math.floor(id / 1000)), `${cls}${id}`)
    // the places contentPath looks, in its order, without a separate existence check per file
    for (const p of [sub, `${sub}.tmp`, join(root, `${cls}${id}`)]) {
      try {
        return readFileSync(p)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
    }
    return undefined
  }
}

/** What to tell the user about the index bk filled (nothing when it is complete). */
export function indexerNote(settings: IndexerSettings, result: FillResult): string[] {
  if (settings.fills === 'none') {
    return [
      `[main] indexer = ${settings.name} keeps its index in files bk does not write: run \`roundup-admin -i <home> reindex\``,
    ]
  }
  if (settings.name === '') {
    return [
      `filled Roundup's native full-text index (${result.texts} texts); with [main] indexer empty Roundup prefers xapian or whoosh when installed — then run \`roundup-admin reindex\``,
    ]
  }
  return []
}
