import {describe, expect, it} from 'vitest'
import {csvField, csvLine} from '../src/csv.js'
import {pyFloatRepr, reprExport} from '../src/pyrepr.js'
import type {PropDef} from '../src/schema.js'
import {exportField, exportJournalLine, exportJournalRow, exportValue, multilinkField} from '../src/values.js'

// the export's direct writers against the generic path they stand for (values, then repr, then CSV quoting)
const generic = (p: PropDef, v: unknown) => csvField(reprExport(exportValue(p, v, 'sqlite')))

const strings = [
  '',
  'plain',
  "it's",
  'say "hi"',
  'a:b',
  'line\nbreak',
  'tab\there',
  'back\\slash',
  'café – ünïcode',
  `both ' and "`,
  '\x7f\x01',
  ':"\n',
  '<1.1@example.org>',
]
const dates = [
  '20240101000002.738',
  '20240101000000.000',
  '20261121221929.620',
  '2024010100000.5',
  '20240101000059.999',
  '20240101000001.0000001',
  '20240101000001',
  '2024-01-02.03:04:05.5',
  '2024-01-02 03:04',
]

describe('the export’s direct field writers', () => {
  it('write what the generic path writes, for every stored type', () => {
    const cases: Array<[PropDef, unknown[]]> = [
      [{name: 's', type: 'String'}, [null, ...strings, Buffer.from('bytes: é')]],
      [{name: 'p', type: 'Password'}, [null, '{SHA}abc:def']],
      [{name: 'l', type: 'Link', target: 'user'}, [null, 1, 42, 10n, '7', 'x:y']],
      [{name: 'd', type: 'Date'}, [null, ...dates, Buffer.from('20240101000002.738')]],
      [{name: 'b', type: 'Boolean'}, [null, 0, 1, 'TRUE', 'FALSE']],
      [{name: 'i', type: 'Integer'}, [null, 0, -5, 12]],
      [{name: 'n', type: 'Number'}, [null, 1.5, 2, '3', 0.1 + 0.2, 1e-5, 1e17]],
      [{name: 'v', type: 'Interval'}, [null, '+ 1d 2:03', '- 21d', '00:00']],
    ]
    for (const [p, values] of cases) {
      const field = exportField(p, 'sqlite')
      for (const v of values) expect(field(v), `${p.type} ${String(v)}`).toBe(generic(p, v))
    }
  })

  it('write Multilink ids as the repr of their list', () => {
    for (const ids of [[], [1], [1, 2, 30]]) {
      expect(multilinkField(ids)).toBe(csvField(reprExport(ids.map(String))))
    }
  })

  it('write journal lines as the generic path does, the shortcuts (create {}, link, unlink) included', () => {
    const props = new Map<string, PropDef>([
      ['title', {name: 'title', type: 'String'}],
      ['deadline', {name: 'deadline', type: 'Date'}],
      ['messages', {name: 'messages', type: 'Multilink', target: 'msg'}],
    ])
    const rows: unknown[][] = [
      [1, '20240101000002.738', '1', 'create', '{}'],
      [1, '20240101000002.738', null, 'create', '{}'],
      [2, '20240101000002.738', 'o:dd', 'create', "{'title': 'x'}"],
      [3, '20240101000003.000', '1', 'link', "('issue', '1', 'messages')"],
      [3, '20240101000003.000', '1', 'unlink', "('issue', '12', 'messages')"],
      [3, '20240101000003.000', '1', 'link', "('issue', 'x:y', 'messages')"],
      [3, '20240101000003.000', '1', 'link', "('issue', '1')"],
      [4, '20240101000004.100', '2', 'set', "{'title': 'it\\'s \"new\"', 'deadline': '20250101000000.000'}"],
      [4, '20240101000004.100', '2', 'set', '{}'],
      [5, '2024-01-01.00:00:04', '2', 'create', '{}'],
      [6, '20240101000004.100', '2', 'retired', 'None'],
    ]
    for (const row of rows) {
      const fields = exportJournalRow(row, props, 'sqlite')
      expect(exportJournalLine(row, props, 'sqlite'), String(row)).toBe(fields && csvLine(fields))
    }
  })

  it("prints floats as Python's repr across the fast range's edges", () => {
    expect([1e-4, 9.999e-5, 1e16 - 2, 1e16, 123.456, 0.1, 2.738, 59.999, 1 / 3].map(pyFloatRepr)).toEqual([
      '0.0001',
      '9.999e-05',
      '9999999999999998.0',
      '1e+16',
      '123.456',
      '0.1',
      '2.738',
      '59.999',
      '0.3333333333333333',
    ])
  })
})
