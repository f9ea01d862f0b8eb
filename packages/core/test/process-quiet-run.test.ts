import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {runQuiet} from '../src/process/index.js'

// A program run without execa: the same outcomes and messages as runTool.
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
})
