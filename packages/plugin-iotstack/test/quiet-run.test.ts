import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {runStackHook} from '../src/hook-scripts.js'
import {runQuiet} from '../src/quiet-run.js'

// The probe and hook runner without execa: the same outcomes and messages as core's runTool.
describe('runQuiet', () => {
  it('appends both output streams to the log, in the folder and environment given', async () => {
    const dir = tempDir('bk-quiet-')
    const log = join(dir, 'run.log')
    writeFileSync(log, 'before\n')
    await runQuiet('sh', ['-c', 'echo "out $PWD $BK_X"; echo err >&2'], {cwd: dir, env: {BK_X: 'x1'}, logFile: log})
    expect(readFileSync(log, 'utf8')).toBe(`before\nout ${dir} x1\nerr\n`)
  })

  it('a non-zero exit is ETOOL naming the label and the code; a missing program is ENOTOOL', async () => {
    await expect(runQuiet('sh', ['-c', 'exit 3'], {label: 'probe'})).rejects.toMatchObject({
      code: 'ETOOL',
      message: 'probe failed (exit 3)',
    })
    await expect(runQuiet('sh', ['-c', 'kill -TERM $$'])).rejects.toMatchObject({
      code: 'ETOOL',
      message: 'sh failed (killed by SIGTERM)',
    })
    await expect(runQuiet('bk-no-such-program-here', ['version'])).rejects.toMatchObject({code: 'ENOTOOL'})
  })

  it("a failing hook script is EHOOK, its output in the run's log", async () => {
    const dir = tempDir('bk-quiet-hook-')
    writeFileSync(join(dir, 'pre_backup.sh'), 'echo "hook says $BK_STATUS"\nexit 2\n')
    const log = join(dir, 'backup.log')
    await expect(runStackHook(dir, 'pre_backup.sh', {logFile: log, env: {BK_STATUS: 'ok'}})).rejects.toMatchObject({
      code: 'EHOOK',
      message: 'pre_backup.sh failed (exit 2); see its output in the log',
    })
    expect(readFileSync(log, 'utf8')).toBe('hook says ok\n')
    expect(await runStackHook(dir, 'post_backup.sh')).toEqual({hook: 'post_backup.sh', ran: false})
  })
})
