import {spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {
  findProcesses,
  frontendSteps,
  frontendsFromFlags,
  pidFromFile,
  withFrontendsStopped,
} from '../src/process/index.js'

function log(): {file: string; lines: () => string[]} {
  const file = join(tempDir(), 'calls.log')
  return {file, lines: () => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [])}
}

describe('frontends stopped around an operation', () => {
  it('stops in order, starts again in reverse order, and hands back the result', async () => {
    const l = log()
    const frontends = frontendsFromFlags(
      {
        'stop-command': [`echo stop-a >> ${l.file}`, `echo stop-b >> ${l.file}`],
        'start-command': [`echo start-a >> ${l.file}`, `echo start-b >> ${l.file}`],
      },
      {name: 'server'},
    )
    const {value, frontends: reports} = await withFrontendsStopped(frontends, async () => {
      writeFileSync(l.file, `${readFileSync(l.file, 'utf8')}work\n`)
      return 42
    })
    expect(value).toBe(42)
    expect(l.lines()).toEqual(['stop-a', 'stop-b', 'work', 'start-b', 'start-a'])
    expect(reports.every((r) => r.stopped && r.restarted)).toBe(true)
  })

  it('starts them again when the operation fails, and says which did not start', async () => {
    const l = log()
    const frontends = frontendsFromFlags(
      {'stop-command': [`echo stop-a >> ${l.file}`, 'true'], 'start-command': [`echo start-a >> ${l.file}`, 'exit 4']},
      {name: 'server'},
    )
    await expect(
      withFrontendsStopped(frontends, async () => {
        throw new Error('boom')
      }),
    ).rejects.toThrow(/^boom; not started again: command 'true' \(start command failed \(exit 4\): exit 4\)$/)
    expect(l.lines()).toEqual(['stop-a', 'start-a'])
  })

  it('a process of a pidfile: SIGTERM, then its command line again; stale and foreign pidfiles refused', async () => {
    const dir = tempDir()
    const script = join(dir, 'server.mjs')
    const marker = join(dir, 'starts.log')
    writeFileSync(
      script,
      `import {appendFileSync} from 'node:fs'\nappendFileSync(${JSON.stringify(marker)}, process.cwd() + ' ' + process.env.FRONTEND_TEST + '\\n')\n` +
        "process.on('SIGTERM', () => process.exit(0)); setTimeout(() => process.exit(0), 30000)\n",
    )
    const child = spawn(process.execPath, [script], {
      stdio: 'ignore',
      cwd: dir,
      env: {...process.env, FRONTEND_TEST: 'kept'},
    })
    while (!existsSync(marker)) await new Promise((r) => setTimeout(r, 20))
    const pidfile = join(dir, 'server.pid')
    writeFileSync(pidfile, `${child.pid}\n`)
    const [f] = frontendsFromFlags({'stop-server': [pidfile]}, {name: 'server', match: /server\.mjs/})
    expect(frontendSteps([f!]).stop[0]).toMatchObject({op: 'stop', target: `server pid ${child.pid}`})
    const {frontends: reports} = await withFrontendsStopped([f!], async () => {
      expect(existsSync(`/proc/${child.pid}/cmdline`) && readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).toBeFalsy()
    })
    expect(reports).toEqual([{name: `server pid ${child.pid}`, stopped: true, restarted: true}])
    while (readFileSync(marker, 'utf8').trim().split('\n').length < 2) await new Promise((r) => setTimeout(r, 20))
    // started again in the same folder with the same environment
    expect(readFileSync(marker, 'utf8')).toBe(`${dir} kept\n${dir} kept\n`)
    const again = findProcesses((p) => p.argv[1] === script)
    expect(again).toHaveLength(1)
    process.kill(again[0]!.pid, 'SIGTERM')
    expect(() => pidFromFile(pidfile, 'server')).toThrow(/^stale pidfile .*: pid \d+ is not running/)
    writeFileSync(pidfile, `${process.pid}\n`)
    expect(() => pidFromFile(pidfile, 'server', /server\.mjs/)).toThrow(/is not server .*; not stopping it$/)
  })

  it('unpaired --stop-command/--start-command is a usage error', () => {
    expect(() => frontendsFromFlags({'stop-command': ['a']}, {name: 'x'})).toThrow(
      /--stop-command given 1 times and --start-command 0 times/,
    )
  })
})
