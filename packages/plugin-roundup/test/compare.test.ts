import {cpSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {compareExports} from '../src/compare.js'

function exportDir(files: Record<string, string>): string {
  const dir = tempDir()
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

describe('compareExports (migrate-backend verification)', () => {
  const base = {
    'issue.csv': "id:title\n'1':'a'\n'2':'b'\n",
    'issue-journals.csv': "'1':(2024, 1, 2, 3, 4, 5.123, 0, 0, 0):'1':'create':{}\n",
  }

  it('the same rows in another order, and dates equal to the millisecond, are the same export', async () => {
    const a = exportDir(base)
    const b = exportDir({
      'issue.csv': "'2':'b'\nid:title\n'1':'a'\n",
      'issue-journals.csv': "'1':(2024, 1, 2, 3, 4, 5.12300000001, 0, 0, 0):'1':'create':{}\n",
    })
    expect(await compareExports(a, b, false)).toBeUndefined()
  })

  it('names the first differing file and line; a file missing on one side counts as empty', async () => {
    const a = exportDir(base)
    const b = exportDir({...base, 'issue.csv': "id:title\n'1':'a'\n'2':'c'\n"})
    expect(await compareExports(a, b, false)).toEqual({file: 'issue.csv', line: 2})
    const c = tempDir()
    cpSync(a, c, {recursive: true})
    rmSync(join(c, 'issue-journals.csv'))
    expect(await compareExports(a, c, false)).toEqual({file: 'issue-journals.csv', line: 1})
  })

  it('whole seconds only after MySQL; CSVs in subfolders are compared too', async () => {
    const a = exportDir(base)
    const b = exportDir({...base, 'issue-journals.csv': base['issue-journals.csv'].replace('5.123', '5.0')})
    expect(await compareExports(a, b, false)).toEqual({file: 'issue-journals.csv', line: 1})
    expect(await compareExports(a, b, true)).toBeUndefined()
    mkdirSync(join(b, 'sub'))
    writeFileSync(join(b, 'sub', 'x.csv'), 'x\n')
    expect(await compareExports(a, b, true)).toEqual({file: 'sub/x.csv', line: 0})
  })
})
