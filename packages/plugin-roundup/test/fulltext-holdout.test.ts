/**
 * Holdout against the real Roundup (opt-in: BK_ROUNDUP_SRC names a Roundup source checkout, run with python3;
 * sqlite needs no driver). Real Roundup writes items with awkward text (accents, ß, CJK, Greek, combining marks,
 * ligatures, words of 50 and 51 characters, invalid UTF-8 in a file), exports them, and imports the export
 * itself; bk imports the same export. The full-text tables must be equal, and Roundup's own search
 * (`db.indexer.search`) must give the same hits on both — with the native and the native-fts indexer.
 */
import {execFileSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {importTracker} from '../src/import.js'
import {fixtureTree} from './helpers.js'

const SRC = process.env.BK_ROUNDUP_SRC

const MAKE = `
import roundup.instance, roundup.date
db = roundup.instance.open('HOME').open('admin')
texts = [
  "Ünïcödé ÉCOLE straße ŉ ﬁne café\\u0301 naïve 日本語テキスト Ελληνικά",
  "under_score x_ a1 7 42 " + "z"*50 + " " + "q"*51 + " the AND is",
  "tabs\\tand\\nnewlines\\r\\nwin; punct!? (paren) 'sq' \\"dq\\" e-mail foo@bar.example http://x.y/z?a=b",
  "ﬀ ligature İstanbul ǅemal ΣΊΣΥΦΟΣ ꙮ 𝔘𝔫𝔦 ½ ² ٣٤ १२",
]
for i, tx in enumerate(texts):
    m = db.msg.create(content=tx, author='1', date=roundup.date.Date('.'))
    db.issue.create(title=tx[:60] + ' title%d' % i, messages=[m])
db.file.create(content=b'caf\\xc3\\xa9 bad\\xffbyte \\xe2\\x82 end', name='x.txt', type='text/plain')
db.file.create(content=b'not indexed zebra', name='x.bin', type='application/octet-stream')
db.commit()
`

const SEARCH = `
import sys, json, roundup.instance
db = roundup.instance.open(sys.argv[1]).open('admin')
words = ['café', 'straße', '日本語テキスト', 'under_score', 'σίσυφος', 'zebra', 'colons', 'istanbul', 'badbyte', 'end', 'ligature']
out = {}
for w in words:
    out[w] = [sorted(db.indexer.search([w], db.issue)), sorted(db.indexer.search([w], db.file))]
print(json.dumps(out, sort_keys=True))
`

const TABLES = `
import sys, json, sqlite3
c = sqlite3.connect(sys.argv[1] + '/db/db')
print(json.dumps([
  sorted(c.execute('select _class, _itemid, _prop from __textids').fetchall()),
  sorted(c.execute('select t._class, t._itemid, t._prop, w._word from __words w join __textids t on t._textid = w._textid').fetchall()),
  c.execute("select num from ids where name='__textids'").fetchall(),
  sorted(c.execute('select _class, _itemid, _prop, _textblob from __fts').fetchall()),
]))
`

function python(code: string, args: string[] = []): string {
  return execFileSync('python3', ['-c', code, ...args], {
    encoding: 'utf8',
    env: {...process.env, PYTHONPATH: SRC},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

function roundupAdmin(args: string[]): void {
  execFileSync('python3', ['-m', 'roundup.scripts.roundup_admin', ...args], {
    env: {...process.env, PYTHONPATH: SRC},
    stdio: 'ignore',
  })
}

function freshHome(from: string, indexer: string): string {
  const home = join(tempDir(), 'home')
  cpSync(from, home, {recursive: true})
  rmSync(join(home, 'db'), {recursive: true, force: true})
  mkdirSync(join(home, 'db'))
  const ini = join(home, 'config.ini')
  writeFileSync(ini, readFileSync(ini, 'utf8').replace(/\nindexer = [^\n]*/, `\nindexer = ${indexer}`))
  return home
}

describe.skipIf(!SRC || !existsSync(join(SRC ?? '', 'roundup', 'admin.py')))(
  'holdout: the real Roundup searches a tracker bk imported as one it imported itself',
  () => {
    for (const indexer of ['native', 'native-fts']) {
      it(`${indexer}: same tables, same search hits`, async () => {
        const source = fixtureTree('sqlite-home')
        python(MAKE.replace('HOME', source))
        const exported = join(tempDir(), 'export')
        roundupAdmin(['-i', source, 'export', exported])
        const theirs = freshHome(source, indexer)
        roundupAdmin(['-i', theirs, 'import', exported])
        const ours = freshHome(source, indexer)
        await importTracker(ours, exported)
        expect(python(TABLES, [ours])).toBe(python(TABLES, [theirs]))
        const hits = python(SEARCH, [ours])
        expect(hits).toBe(python(SEARCH, [theirs]))
        expect(JSON.parse(hits).日本語テキスト[0]).toHaveLength(1)
      })
    }
  },
)
