// An export's thread closed right after its start, under a busy thread pool: no descriptor left open (a thread
// terminated while it loads its modules left one open for good).
import {execFile} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {expect, it} from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
// core's child (it counts /proc/self/fd around each start and stop) and this plugin's built thread: build first
const child = join(here, '..', '..', 'core', 'test', 'thread-stop-child.mjs')
const built = join(here, '..', 'dist', 'export-thread.js')

it("an export's thread closed at once leaves no descriptor open", async () => {
  const db = join(tempDir(), 'db')
  const d = new Database(db)
  d.exec('create table t (a)')
  d.close()
  const {stdout} = await promisify(execFile)(process.execPath, [child, 'export', '60', built, db], {
    encoding: 'utf8',
    env: {...process.env, UV_THREADPOOL_SIZE: '2'},
    timeout: 170_000,
  })
  expect(JSON.parse(stdout)).toEqual([])
}, 180_000)
