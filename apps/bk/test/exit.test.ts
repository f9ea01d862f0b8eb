import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'

/** NODE_OPTIONS that preload `code` (CommonJS) into the bk process, before bin/run.js. */
function preload(code: string): string {
  const file = join(tempDir('bk-exit-preload-'), 'preload.cjs')
  writeFileSync(file, code)
  return `--require ${JSON.stringify(file)}`
}

// bin/run.js exits as soon as the event loop is empty instead of waiting for Node's teardown: only the time may change.
describe('bk exits when its work is done', () => {
  it('runs every exit listener with the exit code, after all output', async () => {
    const location = tempDir('bk-exit-empty-')
    const result = await runBk(['trac', 'list', '--location', location, '--json'], {
      env: {
        NODE_OPTIONS: preload(`process.on('exit', (code) => require('node:fs').writeSync(2, 'exit ' + code + '\\n'))`),
      },
    })
    expect(result.exitCode).toBe(0)
    expect(result.json()).toEqual({
      kind: 'list',
      app: 'trac',
      command: 'trac list',
      dryRun: false,
      location,
      artifacts: [],
    })
    expect(result.stderr).toBe('exit 0\n')
  })

  it('keeps the ordinary exit when another beforeExit listener schedules more work', async () => {
    const location = tempDir('bk-exit-empty-')
    const late = `process.once('beforeExit', () => setTimeout(() => require('node:fs').writeSync(1, 'late work\\n'), 20))`
    const result = await runBk(['trac', 'list', '--location', location], {env: {NODE_OPTIONS: preload(late)}})
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toBe(`No backups in ${location}.\nlate work\n`)
  })

  it('exits with the command error code, its message on stderr', async () => {
    const result = await runBk(['trac', 'list'])
    expect(result.exitCode).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe('bk: give the backup location: --location <dir>\n')
  })
})
