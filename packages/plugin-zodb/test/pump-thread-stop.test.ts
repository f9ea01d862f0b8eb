// pump's hashing threads closed right after their start (a read that fails at once), under a busy thread pool: no
// descriptor left open (a thread terminated while it loads its modules left one open for good).
import {execFile} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {expect, it} from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
// core's child (it counts /proc/self/fd around each start and stop) and this plugin's built pump: build first
const child = join(here, '..', '..', 'core', 'test', 'thread-stop-child.mjs')
const built = join(here, '..', 'dist', 'pump.js')

it("pump's threads closed after an early failure leave no descriptor open", async () => {
  const {stdout} = await promisify(execFile)(process.execPath, [child, 'pump', '60', built], {
    encoding: 'utf8',
    env: {...process.env, UV_THREADPOOL_SIZE: '2'},
    timeout: 170_000,
  })
  expect(JSON.parse(stdout)).toEqual([])
}, 180_000)
