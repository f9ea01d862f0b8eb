import {describe, expect, it} from 'vitest'
import {csvLine} from '../src/csv.js'
import {evalImport, PyDict, PyTuple, parsePyLiteral, pyFloatRepr, pyRepr, reprExport} from '../src/pyrepr.js'
import {dateTuple, parseRoundupDate, parseSqlTimestamp, serialiseDate} from '../src/rdate.js'
import {parseSchemaPy} from '../src/schema.js'

describe('Python-2-style repr (roundup.anypy.strings.repr_export)', () => {
  it('writes str as a bytes repr with \\x escapes and Python quote choice', () => {
    expect(reprExport("Issue 0 – café 'q'")).toBe(`"Issue 0 \\xe2\\x80\\x93 caf\\xc3\\xa9 'q'"`)
    expect(reprExport(`it's "quoted"`)).toBe(`'it\\'s "quoted"'`)
    expect(reprExport('tab\there\nline\\')).toBe(`'tab\\there\\nline\\\\'`)
  })
  it('sorts dict keys and reprs nested values like Python 3', () => {
    const d = new PyDict([
      ['status', '1'],
      ['messages', new PyTuple([new PyTuple(['+', ['2']])])],
    ])
    expect(reprExport(d)).toBe(`{'messages': (('+', ['2']),), 'status': '1'}`)
    expect(pyRepr(['é', 'a\u2028'])).toBe(`['é', 'a\\u2028']`)
  })
  it('prints floats as Python repr does', () => {
    expect([3, 29.62, 0.1 + 0.2, 1e16, 1.5e-5, 0.0001, 123456789012345.6].map(pyFloatRepr)).toEqual([
      '3.0',
      '29.62',
      '0.30000000000000004',
      '1e+16',
      '1.5e-05',
      '0.0001',
      '123456789012345.6',
    ])
  })
  it('reads back what it writes (eval_import decodes the UTF-8 bytes)', () => {
    const text = reprExport('Grüße: "x"')
    expect(evalImport(text)).toBe('Grüße: "x"')
    expect(pyRepr(parsePyLiteral("('issue', 5002L, 'status')".replace('L', '')))).toBe("('issue', 5002, 'status')")
    expect(reprExport(parsePyLiteral('(2026, 11, 21, 22, 19, 29.62, 0, 0, 0)'))).toBe(
      '(2026, 11, 21, 22, 19, 29.62, 0, 0, 0)',
    )
  })
  it('takes the plain-text shortcuts only where Python writes the same', () => {
    // around the printable-ASCII shortcut of the bytes repr: quote, backslash, DEL, space, tilde, empty
    expect(['', ' ~', 'a"b', "a'b", 'a\\b', 'a\x7fb', 'a\x1fb', '&(['].map(reprExport)).toEqual([
      "''",
      "' ~'",
      `'a"b'`,
      `"a'b"`,
      "'a\\\\b'",
      "'a\\x7fb'",
      "'a\\x1fb'",
      "'&(['",
    ])
    // whole floats
    expect([1, -2, 59, 1e15, 9007199254740994, -0, 123456789012345680].map(pyFloatRepr)).toEqual([
      '1.0',
      '-2.0',
      '59.0',
      '1000000000000000.0',
      '9007199254740994.0',
      '-0.0',
      '1.2345678901234568e+17',
    ])
    // strings: runs of plain text between escapes and quotes, triple quotes with a lone quote inside
    expect(parsePyLiteral(`'ab\\'cd\\\\ef\\x41g'`)).toBe("ab'cd\\efAg")
    expect(parsePyLiteral(`'''a'b''c'''`)).toBe("a'b''c")
    expect(parsePyLiteral(`"${'x'.repeat(5000)}\\n"`)).toBe(`${'x'.repeat(5000)}\n`)
    // numbers where the parser stands, blanks between items
    expect(pyRepr(parsePyLiteral('( 12L ,\t-3.5e2,\n+7 , .5 )'))).toBe('(12, -350.0, 7, 0.5)')
    expect(() => parsePyLiteral("('a', -)")).toThrow(/bad number/)
  })
  it('quotes CSV fields like csv.excel with ":"', () => {
    expect(csvLine(["'a'", "{'x': 1}", `"""q"""`])).toBe(`'a':"{'x': 1}":"""""""q"""""""\n`)
  })
})

describe('Roundup dates', () => {
  it('sqlite serialised dates give float seconds; PostgreSQL datetimes add the float noise psycopg2 gives', () => {
    expect(reprExport(dateTuple(parseRoundupDate('20261121221929.620')))).toBe('(2026, 11, 21, 22, 19, 29.62, 0, 0, 0)')
    expect(reprExport(dateTuple(parseSqlTimestamp('2026-11-21 22:19:29.673')))).toBe(
      '(2026, 11, 21, 22, 19, 29.673000000000002, 0, 0, 0)',
    )
    expect(serialiseDate(parseRoundupDate('20261121221929.6'))).toBe('20261121221929.600')
  })
})

describe('schema.py static reader', () => {
  it('reads the classic template classes, kinds, keys and added properties', () => {
    const s = parseSchemaPy(`
pri = Class(db, "priority", name=String(), order=Number())  # comment, with ( paren
pri.setkey("name")
msg = FileClass(db, "msg", author=Link("user", do_journal='no'), date=Date())
user = Class(db, 'user', username=String())
user.setkey('username')
issue = IssueClass(db, "issue", assignedto=Link("user"), keyword=Multilink("keyword"))
kw = Class(db, "keyword", name=String())
file = FileClass(db, "file", name=String())
`)
    expect(s.classes.map((c) => `${c.kind}:${c.name}:${c.key}`)).toEqual([
      'Class:priority:name',
      'FileClass:msg:',
      'Class:user:username',
      'IssueClass:issue:',
      'Class:keyword:',
      'FileClass:file:',
    ])
    expect(s.classes[3]!.props.map((p) => p.name)).toEqual([
      'assignedto',
      'keyword',
      'title',
      'messages',
      'files',
      'nosy',
      'superseder',
    ])
    expect(s.classes[1]!.props.map((p) => p.name)).toEqual(['author', 'date', 'content', 'type'])
  })
})
