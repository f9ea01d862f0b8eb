import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {exportTracker} from '../src/export.js'
import {importTracker} from '../src/import.js'
import {migrateBackend} from '../src/migrate.js'
import {dropPgDb, fixtureTree, psql, treeDifferences, uniqueName} from './helpers.js'

// A schema with every property type the classic template lacks, and journal params whose encoding differs per
// backend (Date, Boolean): values written in roundup-admin's export form (research notes §2.5/§3.4).
const SCHEMA = `user = Class(db, "user", username=String())
user.setkey("username")
thing = Class(db, "thing", name=String(), when=Date(), dur=Interval(), flag=Boolean(), count=Integer(),
              ratio=Number(), owner=Link("user"), tags=Multilink("user"))
thing.setkey("name")
`
const D = (s: string) => `(2026, 11, 21, 21, 28, ${s}, 0, 0, 0)`
const EXPORT: Record<string, string> = {
  'user.csv': `activity:actor:creation:creator:id:username:is retired\n${D('54.008')}:'1':${D('54.008')}:'1':'1':'admin':False\n`,
  'user-journals.csv': `'1':${D('54.008')}:'1':'create':{}\n`,
  'thing.csv':
    // rows sorted by key, as roundup-admin writes them ("'q' té" < 't1')
    'activity:actor:count:creation:creator:dur:flag:id:name:owner:ratio:tags:when:is retired\n' +
    `${D('56.983')}:'1':None:${D('56.983')}:'1':(1, 0, 0, 1, 2, 3, 0):0:'2':"""'q' t\\xc3\\xa9""":None:None:[]:None:True\n` +
    `${D('55.521')}:'1':42:${D('55.5')}:'1':(-1, 0, 0, 21, 0, 0, 0):1:'1':'t1':'1':1.5:['1']:(2024, 3, 4, 5, 6, 7.25, 0, 0, 0):False\n`,
  'thing-journals.csv':
    `'1':${D('55.5')}:'1':'create':{}\n` +
    `'1':${D('55.521')}:'1':'set':"{'count': 41, 'dur': (1, 0, 0, 1, 2, 3, 0), 'flag': 1, 'when': (2024, 3, 4, 5, 6, 7.0, 0, 0, 0)}"\n` +
    `'2':${D('56.983')}:'1':'create':{}\n` +
    `'2':${D('56.983')}:'1':'retired':None\n`,
}

function typedHome(): {home: string; exportDir: string} {
  const home = fixtureTree('sqlite-home')
  rmSync(join(home, 'db'), {recursive: true})
  writeFileSync(join(home, 'schema.py'), SCHEMA)
  const exportDir = join(tempDir(), 'typed-export')
  mkdirSync(exportDir)
  for (const [f, text] of Object.entries(EXPORT)) writeFileSync(join(exportDir, f), text)
  return {home, exportDir}
}

describe('Date, Interval, Boolean, Integer, Number, Link, Multilink and journal params', () => {
  const pg: string[] = []
  afterAll(() => {
    for (const n of pg) dropPgDb(n)
  })

  it('import → export on sqlite gives back the same bytes', async () => {
    const {home, exportDir} = typedHome()
    await importTracker(home, exportDir)
    const out = join(tempDir(), 'again')
    await exportTracker(home, out)
    expect(treeDifferences(out, exportDir)).toEqual([])
  })

  it('sqlite → PostgreSQL → sqlite re-encodes dates and booleans inside journal params, and round-trips', async () => {
    const {home, exportDir} = typedHome()
    await importTracker(home, exportDir)
    const name = uniqueName()
    pg.push(name)
    await migrateBackend(home, {to: 'postgresql', url: `postgresql://root@127.0.0.1:5432/${name}`})
    const params = psql("select params from thing__journal where action = 'set'", name).trim()
    expect(params).toBe("{'count': 41, 'dur': '+ 1d 2:03', 'flag': 'TRUE', 'when': '2024-03-04 05:06:07.000'}")
    expect(psql('select _flag, __dur_int__, _when from _thing order by id', name).trim()).toBe(
      't|-1814400|2024-03-04 05:06:07.25\nf|93780|',
    )
    const viaPg = join(tempDir(), 'pg')
    await exportTracker(home, viaPg)
    // PostgreSQL REAL keeps 1.5, and dates come back through datetime (float noise rounded by the comparison)
    expect(readFileSync(join(viaPg, 'thing-journals.csv'), 'utf8')).toBe(EXPORT['thing-journals.csv'])
    await migrateBackend(home, {to: 'sqlite'})
    const back = join(tempDir(), 'back')
    await exportTracker(home, back)
    expect(treeDifferences(back, exportDir)).toEqual([])
  })
})
