import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'
import {loadDriverModule, loadMysql, loadMysqlPromise, loadPg, loadSqlite} from '../src/db/index.js'

const coreDist = fileURLToPath(new URL('../dist/index.js', import.meta.url))

/** The database drivers (CommonJS, so they land in require.cache) loaded in a fresh process after `steps`. */
function driversLoadedAfter(steps: string): string[] {
  const script = `
    import {createRequire} from 'node:module'
    const core = await import(${JSON.stringify(coreDist)})
    ${steps}
    const names = Object.keys(createRequire(import.meta.url).cache)
      .map((file) => /node_modules[\\\\/](pg|mysql2|better-sqlite3)[\\\\/]/.exec(file)?.[1])
      .filter(Boolean)
    console.log(JSON.stringify([...new Set(names)].sort()))`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'})
  return JSON.parse(out.trim())
}

describe('database drivers load on first use', () => {
  it('loading core loads no driver', () => {
    expect(driversLoadedAfter('')).toEqual([])
  })

  it('each loader loads its own driver only', () => {
    expect(driversLoadedAfter('await core.loadPg()')).toEqual(['pg'])
    expect(driversLoadedAfter('await core.loadMysql()')).toEqual(['mysql2'])
    expect(driversLoadedAfter('await core.loadSqlite()')).toEqual(['better-sqlite3'])
  })

  it('the loaders give the drivers themselves, once', async () => {
    const Database = await loadSqlite()
    const db = new Database(':memory:')
    expect(db.prepare('SELECT 41 + 1 AS n').get()).toEqual({n: 42})
    db.close()
    expect(typeof (await loadPg()).Client).toBe('function')
    expect(typeof (await loadMysql()).createConnection).toBe('function')
    expect(typeof (await loadMysqlPromise()).createConnection).toBe('function')
    expect(await loadSqlite()).toBe(Database)
  })

  it('a missing driver is one line, code EDRIVER, naming the package to install', async () => {
    const error = await loadDriverModule('bk-no-such-driver', 'SQLite').catch((e: unknown) => e)
    expect(error).toMatchObject({
      name: 'BkError',
      code: 'EDRIVER',
      message:
        'the SQLite driver bk-no-such-driver is not installed; install it (npm install bk-no-such-driver) or install the bk plugin that needs it',
    })
    // Not cached: a later attempt (after installing) tries again.
    const again = await loadDriverModule('bk-no-such-driver', 'SQLite').catch((e: unknown) => e)
    expect(again).toMatchObject({code: 'EDRIVER'})
  })
})
