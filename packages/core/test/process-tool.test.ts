import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {BkError} from '../src/errors.js'
import {lastLine, runTool, startTool} from '../src/process/index.js'

describe('runTool', () => {
  it('returns stdout, stderr and the exit code', async () => {
    const result = await runTool('sh', ['-c', 'echo out; echo err >&2'])
    expect(result).toEqual({exitCode: 0, stdout: 'out\n', stderr: 'err\n'})
  })

  it('turns a failure into one line with the last stderr line', async () => {
    const error = await runTool(
      'sh',
      ['-c', 'echo "first line" >&2; echo "pg_dump: error: connection refused" >&2; exit 1'],
      {
        label: 'pg_dump',
      },
    ).catch((e) => e)
    expect(error).toBeInstanceOf(BkError)
    expect(error.message).toBe('pg_dump failed (exit 1): pg_dump: error: connection refused')
  })

  it('a missing program says so', async () => {
    await expect(runTool('bk-no-such-tool', ['--version'])).rejects.toThrow(
      'bk-no-such-tool not found (bk-no-such-tool); install it or give its path',
    )
  })

  it('accepts other exit codes when told to', async () => {
    expect((await runTool('sh', ['-c', 'exit 75'], {okExitCodes: [0, 75]})).exitCode).toBe(75)
  })

  it('gives secrets through the environment only: not in argv, masked in messages', async () => {
    const secret = 'p@ss w0rd-XYZ'
    const {child, done} = await startTool('sh', ['-c', 'read line; echo "auth failed for $PGPASSWORD" >&2; exit 2'], {
      secretEnv: {PGPASSWORD: secret},
      input: Readable.from(['go\n']),
      label: 'psql',
    })
    const pid = child.pid as number
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
    expect(cmdline).not.toContain(secret)
    expect(environ).toContain(`PGPASSWORD=${secret}`)
    const error = await done.catch((e) => e)
    expect(error.message).toBe('psql failed (exit 2): auth failed for ***')
    expect(JSON.stringify(error)).not.toContain(secret)
  })

  it('streams stdin from a string or a file, and stdout to a file', async () => {
    const dir = tempDir()
    const input = join(dir, 'in.txt')
    writeFileSync(input, 'line one\nline two\n')
    const out = join(dir, 'out.txt')
    await runTool('tr', ['a-z', 'A-Z'], {inputFile: input, stdout: {file: out}})
    expect(readFileSync(out, 'utf8')).toBe('LINE ONE\nLINE TWO\n')
    expect((await runTool('cat', [], {input: 'abc'})).stdout).toBe('abc')
  })

  it('passes extra inputs on fd 3 (how a mysql option file travels without touching disk or argv)', async () => {
    const viaText = await runTool('sh', ['-c', 'cat <&3'], {extraFds: ['[client]\npassword=x\n']})
    expect(viaText.stdout).toBe('[client]\npassword=x\n')
    const viaStream = await runTool('sh', ['-c', 'cat <&3'], {extraFds: [Readable.from(['streamed\n'])]})
    expect(viaStream.stdout).toBe('streamed\n')
  })

  it('lastLine skips trailing blank lines', () => {
    expect(lastLine('a\nb\n\n  \n')).toBe('b')
    expect(lastLine('')).toBe('')
  })
})
