import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {runStackHook} from '../src/hook-scripts.js'

// The stack's hook scripts, run by core's runTool through Node's own spawn (no execa).
describe('stack hook scripts', () => {
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
