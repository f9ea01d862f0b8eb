import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {runTool} from '../src/process/index.js'

// runTool's plain path (Node's own spawn, no execa): a run with nothing to feed and no timeout. The same outcomes and
// messages as the execa path (process-tool.test.ts).
describe('runTool without execa', () => {
  it('appends both output streams to a log, in the folder and environment given', async () => {
    const dir = tempDir('bk-plain-')
    const log = join(dir, 'run.log')
    writeFileSync(log, 'before\n')
    const to = {file: log, append: true}
    const result = await runTool('sh', ['-c', 'echo "out $PWD $BK_X"; echo err >&2'], {
      cwd: dir,
      env: {BK_X: 'x1'},
      stdout: to,
      stderr: to,
    })
    expect(result).toEqual({exitCode: 0, stdout: '', stderr: ''})
    expect(readFileSync(log, 'utf8')).toBe(`before\nout ${dir} x1\nerr\n`)
    await runTool('sh', ['-c', 'echo new'], {stdout: {file: log}})
    expect(readFileSync(log, 'utf8')).toBe('new\n')
  })

  it('returns stdout and stderr; a failure is ETOOL with the last stderr line; a missing program ENOTOOL', async () => {
    expect(await runTool('sh', ['-c', 'echo out; echo err >&2'])).toEqual({
      exitCode: 0,
      stdout: 'out\n',
      stderr: 'err\n',
    })
    expect((await runTool('sh', ['-c', 'exit 75'], {okExitCodes: [0, 75]})).exitCode).toBe(75)
    await expect(
      runTool('sh', ['-c', 'echo first >&2; echo "it broke" >&2; exit 3'], {label: 'probe'}),
    ).rejects.toMatchObject({
      code: 'ETOOL',
      message: 'probe failed (exit 3): it broke',
    })
    await expect(runTool('sh', ['-c', 'kill -TERM $$'], {stderr: 'ignore'})).rejects.toMatchObject({
      code: 'ETOOL',
      message: 'sh failed (killed by SIGTERM)',
    })
    await expect(runTool('bk-no-such-program-here', ['version'])).rejects.toMatchObject({
      code: 'ENOTOOL',
      message: 'bk-no-such-program-here not found (bk-no-such-program-here); install it or give its path',
    })
  })

  it('gives secrets through the environment only: not in argv, masked in messages', async () => {
    const secret = 'p@ss w0rd-XYZ'
    const seen = await runTool('sh', ['-c', 'tr "\\0" " " < /proc/$$/cmdline; echo; echo "$PGPASSWORD"'], {
      secretEnv: {PGPASSWORD: secret},
    })
    const [cmdline, env] = seen.stdout.split('\n')
    expect(cmdline).toContain('/proc/$$/cmdline')
    expect(cmdline).not.toContain(secret)
    expect(env).toBe(secret)
    const error = await runTool('sh', ['-c', 'echo "auth failed for $PGPASSWORD" >&2; exit 2'], {
      secretEnv: {PGPASSWORD: secret},
      label: 'psql',
    }).catch((e) => e)
    expect(error.message).toBe('psql failed (exit 2): auth failed for ***')
    expect(JSON.stringify(error)).not.toContain(secret)
  })

  it('loads no execa; a run that feeds input does (so the probe can see it)', () => {
    const dir = tempDir('bk-plain-probe-')
    const seen = join(dir, 'loaded.txt')
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import {appendFileSync} from 'node:fs'
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(seen)}, url + '\\n')
  return next(url, context)
}
`,
    )
    const tool = pathToFileURL(join(import.meta.dirname, '../dist/process/tool.js')).href
    const run = (call: string) => {
      writeFileSync(seen, '')
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import {register} from 'node:module'
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})
const {runTool} = await import(${JSON.stringify(tool)})
${call}`,
        ],
        {stdio: ['ignore', 'ignore', 'inherit']},
      )
      return readFileSync(seen, 'utf8')
    }
    const plain = run(`await runTool('sh', ['-c', 'exit 0'], {stdout: 'ignore'})`)
    expect(plain).toContain('/process/plain-run.js')
    expect(plain).not.toMatch(/node_modules\/(\.pnpm\/)?execa/)
    expect(run(`await runTool('cat', [], {input: 'x'})`)).toMatch(/execa/)
  })
})
