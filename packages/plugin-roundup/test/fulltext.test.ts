/**
 * The full-text index bk fills on import and migrate-backend equals what Roundup's own indexer made in the
 * fixtures: compared as sets of (class, item, property) texts and (class, item, property, word) rows, with the
 * `__textids` counter, on sqlite, PostgreSQL and MySQL; native-fts (`__fts`) answers searches as the native
 * index does.
 */
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterAll, describe, expect, it} from 'vitest'
import {decodeUtf8Ignore, indexWords, STOPWORDS} from '../src/fulltext.js'
import {importTracker} from '../src/import.js'
import {parseSchemaPy} from '../src/schema.js'
import {
  createMyDb,
  createPgDb,
  dropMyDb,
  dropPgDb,
  fixtureTree,
  mysqlq,
  psql,
  roundupFixture,
  setRdbms,
  uniqueName,
} from './helpers.js'

const exportFixture = fixtureTree('export')

const TEXTS = 'select _class, _itemid, _prop from __textids'
const WORDS = 'select t._class, t._itemid, t._prop, w._word from __words w join __textids t on t._textid = w._textid'

function sorted(rows: unknown[][]): string[] {
  return rows.map((r) => r.map(String).join('|')).sort()
}

function sqliteIndex(file: string): {texts: string[]; words: string[]; next: number} {
  const db = new Database(file, {readonly: true})
  try {
    return {
      texts: sorted(db.prepare(TEXTS).raw().all() as unknown[][]),
      words: sorted(db.prepare(WORDS).raw().all() as unknown[][]),
      next: Number((db.prepare("select num from ids where name='__textids'").raw().get() as unknown[])[0]),
    }
  } finally {
    db.close()
  }
}

function tsv(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').join('|'))
    .sort()
}

function pgIndex(db: string): {texts: string[]; words: string[]; last: string} {
  const q = (sql: string) => tsv(psql(sql, db).replaceAll('|', '\t'))
  return {
    texts: q(TEXTS),
    words: q(WORDS),
    last: psql('select last_value, is_called from ___textids_ids', db).trim(),
  }
}

function myIndex(db: string): {texts: string[]; words: string[]; next: string} {
  return {
    texts: tsv(mysqlq(TEXTS, db)),
    words: tsv(mysqlq(WORDS, db)),
    next: mysqlq("select num from ids where name='__textids'", db).trim(),
  }
}

/** A tracker home with no database yet (db/ removed), config.ini changed as given. */
function emptyHome(fixture: string, rdbms: Record<string, string> = {}): string {
  const home = fixtureTree(fixture)
  rmSync(join(home, 'db'), {recursive: true, force: true})
  setRdbms(home, rdbms)
  return home
}

function setIndexer(home: string, indexer: string): void {
  const file = join(home, 'config.ini')
  writeFileSync(file, readFileSync(file, 'utf8').replace(/\nindexer = [^\n]*/, `\nindexer = ${indexer}`))
}

describe('tokenising as indexer_rdbms does', () => {
  it('upper-cases, keeps 2–50 word characters between word boundaries, drops stopwords', () => {
    expect(indexWords('The café is at the Straße, and it works!').sort()).toEqual(['CAFÉ', 'STRASSE', 'WORKS'])
    expect(indexWords('a b c1 x_y 2026 ab')).toEqual(['C1', 'X_Y', '2026', 'AB'])
    // longer than 50 characters: not indexed at all (no part of it either)
    expect(indexWords(`${'x'.repeat(51)} ${'y'.repeat(50)}`)).toEqual(['Y'.repeat(50)])
    // a combining mark is not a word character in Python's re: it splits the word
    expect(indexWords('cafe\u0301s')).toEqual(['CAFE'])
    // punctuation, quotes and colons separate words; duplicates collapse
    expect(indexWords('\'quoted\' "quoted" a:b:c colons:colons')).toEqual(['QUOTED', 'COLONS'])
    // [main] indexer_stopwords are compared with the upper-cased word, as written
    expect(indexWords('foo bar', new Set(['FOO']))).toEqual(['BAR'])
    // Greek and CJK letters are word characters
    expect(indexWords('αβγ 日本語')).toEqual(['ΑΒΓ', '日本語'])
  })

  it('finds the words a look-around match of 2–50 word characters finds, astral letters counted once', () => {
    const reference = (text: string) => {
      const words = new Set<string>()
      for (const m of text.toUpperCase().matchAll(/(?<![\p{L}\p{N}_])[\p{L}\p{N}_]{2,50}(?![\p{L}\p{N}_])/gu)) {
        if (!STOPWORDS.includes(m[0])) words.add(m[0])
      }
      return [...words]
    }
    // astral letters (2 code units, 1 code point) at the 2 and 50 limits
    const astral = '\u{1D400}'
    expect(indexWords(`${astral} ${astral}${astral} ${astral.repeat(50)} ${astral.repeat(51)} x${astral}`)).toEqual([
      astral.repeat(2),
      astral.repeat(50),
      `X${astral}`,
    ])
    // random texts over an alphabet of word and non-word characters of every width
    const alphabet = [
      'a',
      'Z',
      '_',
      '7',
      'é',
      'ß',
      'ﬁ',
      '日',
      astral,
      '\u{1F600}',
      ' ',
      '-',
      '\u0301',
      '\n',
      '\uD800',
      'x',
    ]
    let seed = 12345
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let t = 0; t < 500; t++) {
      let text = ''
      const length = random(200)
      for (let i = 0; i < length; i++) {
        // every other text ASCII only (the first 4 and the last 3 of the alphabet)
        const pick = t % 2 === 0 ? random(alphabet.length) : [0, 1, 2, 3, 10, 11, 15][random(7)]
        const c = alphabet[pick as number] as string
        text += random(8) === 0 ? c.repeat(random(60)) : c
      }
      expect(indexWords(text)).toEqual(reference(text))
    }
  })

  it("decodes file contents as bytes.decode('utf-8', errors='ignore')", () => {
    expect(decodeUtf8Ignore(Buffer.from('café ✓'))).toBe('café ✓')
    expect(decodeUtf8Ignore(Buffer.from([0x63, 0x61, 0xff, 0x66, 0xe9, 0x65]))).toBe('cafe')
    expect(decodeUtf8Ignore(Buffer.from([0x41, 0xe2, 0x82, 0x42, 0xed, 0xa0, 0x80, 0x43, 0xf0, 0x9f]))).toBe('ABC')
    // a genuine U+FFFD is kept
    expect(decodeUtf8Ignore(Buffer.from([0xef, 0xbf, 0xbd, 0xff]))).toBe('\uFFFD')
  })

  it("reads String(indexme='yes') from schema.py; IssueClass title and FileClass content by default", () => {
    const s = parseSchemaPy(
      [
        'user = Class(db, "user", username=String())',
        'msg = FileClass(db, "msg", author=Link("user"))',
        'f = FileClass(db, "file", name=String())',
        'a = IssueClass(db, "issue", note=String(indexme="yes"), other=String())',
      ].join('\n'),
    )
    const issue = s.classes[3]!.props
    expect(issue.find((p) => p.name === 'note')?.indexme).toBe(true)
    expect(issue.find((p) => p.name === 'other')?.indexme).toBe(false)
    expect(issue.find((p) => p.name === 'title')?.indexme).toBe(true)
    expect(s.classes[2]!.props.find((p) => p.name === 'content')?.indexme).toBe(true)
  })
})

describe("bk fills the full-text index as Roundup's indexer did in the fixtures", () => {
  const pg: string[] = []
  const my: string[] = []
  afterAll(() => {
    for (const n of pg) dropPgDb(n)
    for (const n of my) dropMyDb(n)
  })

  it('sqlite: import gives the texts, words and counter of sqlite-home', async () => {
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    expect(reference.texts.length).toBe(102)
    const home = emptyHome('sqlite-home')
    const r = await runBk(['roundup', 'import', home, exportFixture, '--json'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.json<{fullText: {texts: number}}>().fullText.texts).toBe(102)
    const ours = sqliteIndex(join(home, 'db', 'db'))
    expect(ours.texts).toEqual(reference.texts)
    expect(ours.words).toEqual(reference.words)
    expect(ours.next).toBe(reference.next)
  })

  it('PostgreSQL: import gives the texts, words and ___textids_ids of postgresql-dump.sql', async () => {
    const ref = uniqueName()
    pg.push(ref)
    createPgDb(ref, roundupFixture('postgresql-dump.sql'))
    const target = uniqueName()
    pg.push(target)
    const home = emptyHome('postgresql-home', {name: target})
    await importTracker(home, exportFixture)
    const reference = pgIndex(ref)
    expect(reference.words.length).toBeGreaterThan(400)
    expect(pgIndex(target)).toEqual(reference)
  })

  it('MySQL: import gives the texts, words and ids row of mysql-dump.sql', async () => {
    const ref = uniqueName()
    my.push(ref)
    createMyDb(ref, roundupFixture('mysql-dump.sql'))
    const target = uniqueName()
    my.push(target)
    const home = emptyHome('mysql-home', {name: target})
    await importTracker(home, exportFixture)
    const reference = myIndex(ref)
    expect(reference.words.length).toBeGreaterThan(400)
    expect(myIndex(target)).toEqual(reference)
  })

  it('importtables indexes titles only (roundup-admin indexes contents only when it imports them)', async () => {
    const home = emptyHome('sqlite-home')
    await importTracker(home, fixtureTree('exporttables'), {files: false})
    const ours = sqliteIndex(join(home, 'db', 'db'))
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    expect(ours.texts).toEqual(reference.texts.filter((t) => t.endsWith('|title')))
    expect(ours.words).toEqual(reference.words.filter((t) => t.split('|')[2] === 'title'))
  })

  it('migrate-backend sqlite → PostgreSQL → MySQL keeps the index (texts, words, counter)', async () => {
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    const home = fixtureTree('sqlite-home')
    const pgName = uniqueName()
    pg.push(pgName)
    let r = await runBk([
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'postgresql',
      '--url',
      `postgresql://root@127.0.0.1/${pgName}`,
      '--yes',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    const p = pgIndex(pgName)
    expect(p.texts).toEqual(reference.texts)
    expect(p.words).toEqual(reference.words)
    expect(p.last).toBe(`${reference.next - 1}|t`)
    const myName = uniqueName()
    my.push(myName)
    const pw = join(tempDir(), 'pw')
    writeFileSync(pw, '\n', {mode: 0o600}) // an empty password: root on the test server has none
    r = await runBk([
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'mysql',
      '--url',
      `mysql://root@127.0.0.1/${myName}`,
      '--password-file',
      pw,
      '--yes',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(myIndex(myName)).toEqual({texts: reference.texts, words: reference.words, next: String(reference.next)})
  })

  /** The (class, item, property) texts the native index holds for a word. */
  function nativeHits(words: string[], word: string): string[] {
    return [
      ...new Set(
        words.filter((w) => w.endsWith(`|${word.toUpperCase()}`)).map((w) => w.split('|').slice(0, 3).join('|')),
      ),
    ].sort()
  }
  const PROBES = ['colons', 'quoted', 'follow', 'message', 'second']

  it('native-fts on sqlite: __fts holds every text, and MATCH finds what the native index finds', async () => {
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    const home = emptyHome('sqlite-home')
    setIndexer(home, 'native-fts')
    const r = await importTracker(home, exportFixture)
    expect(r.fullText).toMatchObject({texts: 102, indexer: 'native-fts'})
    const db = new Database(join(home, 'db', 'db'), {readonly: true})
    try {
      expect(sorted(db.prepare('select _class, _itemid, _prop from __fts').raw().all() as unknown[][])).toEqual(
        reference.texts,
      )
      expect(db.prepare('select count(*) from __words').raw().get()).toEqual([0])
      for (const word of PROBES) {
        const hits = sorted(
          db.prepare('select _class, _itemid, _prop from __fts where __fts match ?').raw().all(word) as unknown[][],
        )
        expect(hits.length, word).toBeGreaterThan(0)
        expect(hits, word).toEqual(nativeHits(reference.words, word))
      }
      // the text is stored as is: a message's content, byte for byte
      const [blob] = db.prepare("select _textblob from __fts where _class='msg' and _itemid='1'").raw().get() as [
        string,
      ]
      expect(blob).toBe(readFileSync(join(exportFixture, 'msg-files', '0', 'msg1'), 'utf8'))
    } finally {
      db.close()
    }
  })

  it('native-fts on PostgreSQL: __fts tsvectors are to_tsvector(indexer_language, text) and search like native', async () => {
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    const target = uniqueName()
    pg.push(target)
    const home = emptyHome('postgresql-home', {name: target})
    setIndexer(home, 'native-fts')
    await importTracker(home, exportFixture)
    expect(tsv(psql('select _class, _itemid, _prop from __fts', target).replaceAll('|', '\t'))).toEqual(reference.texts)
    for (const word of PROBES) {
      const hits = tsv(
        psql(
          `select _class, _itemid, _prop from __fts where _tsv @@ websearch_to_tsquery('english', '${word}')`,
          target,
        ).replaceAll('|', '\t'),
      )
      expect(hits, word).toEqual(nativeHits(reference.words, word))
    }
    expect(psql('select count(*) from __words', target).trim()).toBe('0')
  })

  it('migrate-backend sqlite → PostgreSQL with native-fts fills __fts from the data', async () => {
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    const home = fixtureTree('sqlite-home')
    setIndexer(home, 'native-fts')
    const target = uniqueName()
    pg.push(target)
    const r = await runBk([
      'roundup',
      'migrate-backend',
      home,
      '--to',
      'postgresql',
      '--url',
      `postgresql://root@127.0.0.1/${target}`,
      '--yes',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(tsv(psql('select _class, _itemid, _prop from __fts', target).replaceAll('|', '\t'))).toEqual(reference.texts)
  })

  it('move of a sqlite tracker with native-fts fills the new __fts from the data', async () => {
    const reference = sqliteIndex(join(fixtureTree('sqlite-home'), 'db', 'db'))
    const home = fixtureTree('sqlite-home')
    setIndexer(home, 'native-fts')
    const moved = join(tempDir(), 'moved')
    const r = await runBk(['roundup', 'move', home, moved, '--yes'])
    expect(r.exitCode, r.stderr).toBe(0)
    const db = new Database(join(moved, 'db', 'db'), {readonly: true})
    try {
      expect(sorted(db.prepare('select _class, _itemid, _prop from __fts').raw().all() as unknown[][])).toEqual(
        reference.texts,
      )
    } finally {
      db.close()
    }
  })
})
