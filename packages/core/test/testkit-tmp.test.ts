import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {repoRoot} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'

// testkit, checked here because it has no test project of its own.
describe('testkit tempDir', () => {
  it('is removed when the process ends by SIGTERM (how vitest ends its fork workers)', async () => {
    const script = `import {tempDir} from '@bkcli/testkit'
      process.stdout.write(tempDir('bk-tk-probe-') + '\\n')
      setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repoRoot(),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const dir = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.endsWith('\n')) resolve(out.trim())
      })
      child.on('exit', () => reject(new Error(`child ended first: ${out}`)))
    })
    expect(existsSync(dir)).toBe(true)
    child.kill('SIGTERM')
    await new Promise((resolve) => child.on('exit', resolve))
    expect(existsSync(dir)).toBe(false)
  })
})
