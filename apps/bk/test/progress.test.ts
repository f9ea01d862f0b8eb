// Progress as a user sees it: bk run under a real pseudo-terminal (util-linux `script`), on data big enough for
// the engine's steps to draw (the quiet first second is shortened by BK_PROGRESS_DELAY_MS).
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {makeExampleEnvironment} from '@bkcli/plugin-trac'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {beforeAll, describe, expect, it} from 'vitest'

const haveScript = spawnSync('script', ['--version']).status === 0

let env: string
beforeAll(async () => {
  env = join(tempDir('bk-progress-'), 'env')
  await makeExampleEnvironment(env)
  // 24 MiB of attachments in 3 files: enough bytes for more than one redraw.
  const dir = join(env, 'files', 'attachments', 'ticket', 'a94', 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3')
  mkdirSync(dir, {recursive: true})
  for (const n of [1, 2, 3]) writeFileSync(join(dir, `big${n}.bin`), randomBytes(8 << 20))
})

/** Runs bk inside a pseudo-terminal; returns everything the terminal received. */
async function inTerminal(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{exitCode: number; raw: string}> {
  const bk = join(repoRoot(), 'apps/bk/bin/run.js')
  const line = [process.execPath, bk, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const child = spawn('script', ['-qfec', line, '/dev/null'], {
    env: {
      ...process.env,
      NO_COLOR: '1',
      BK_PROGRESS_DELAY_MS: '0',
      BK_LOCK_DIR: tempDir('bk-locks-'),
      BK_DATA_DIR: join(repoRoot(), '.bk-dev'),
      BK_CONFIG_DIR: tempDir('bk-config-'),
      COLUMNS: '160',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let raw = ''
  child.stdout.on('data', (chunk: Buffer) => {
    raw += chunk.toString()
  })
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)))
  return {exitCode, raw}
}

/** What the terminal shows at the end: each line as the last carriage return left it, erase-to-end applied. */
function screen(raw: string): string[] {
  return raw
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => (l.split('\r').at(-1) ?? '').replaceAll(ERASE, ''))
}

/** The terminal's erase-to-end-of-line sequence, which each redraw ends with. */
const ERASE = '\u001b[K'

const finalLine = /^\S.* {2}\d+(\.\d)? (B|KiB|MiB|GiB) {2}\d+(\.\d)? (B|KiB|MiB|GiB)\/s {2}done in \d+:\d\d$/

describe.skipIf(!haveScript)('progress on a terminal', () => {
  it('draws each long step with bytes and rate, and leaves one final line per step', async () => {
    const dest = join(tempDir('bk-progress-'), 'copy')
    const {exitCode, raw} = await inTerminal(['trac', 'hotcopy', env, dest])
    expect(exitCode, raw).toBe(0)
    const lines = screen(raw)
    const finals = lines.filter((l) => finalLine.test(l))
    expect(finals.length, raw).toBeGreaterThan(0)
    // redraws happened in place (carriage return + erase), and no line was left half drawn
    expect(raw.split('\r').some((part) => /^[^\n]+$/.test(part.split(ERASE)[0] ?? '') && part.includes(ERASE))).toBe(
      true,
    )
    for (const l of lines) expect(l).not.toMatch(/ETA \d+:\d\d$/)
  })

  it('shows nothing with --quiet, with --json, or with --progress none', async () => {
    for (const flag of ['--quiet', '--json', '--progress=none']) {
      const dest = join(tempDir('bk-progress-'), 'copy')
      const {exitCode, raw} = await inTerminal(['trac', 'hotcopy', env, dest, flag])
      expect(exitCode, `${flag}: ${raw}`).toBe(0)
      expect(raw, flag).not.toMatch(/done in \d+:\d\d/)
      expect(raw.includes(ERASE), flag).toBe(false)
    }
  })
})

describe('progress off a terminal', () => {
  it('a pipe gets none; --progress=json gets one JSON object per line on stderr, ending each step', async () => {
    const plain = await runBk(['trac', 'hotcopy', env, join(tempDir('bk-progress-'), 'copy')], {
      env: {BK_PROGRESS_DELAY_MS: '0'},
    })
    expect(plain.exitCode, plain.stderr).toBe(0)
    expect(plain.stderr).not.toMatch(/done in|"step"/)
    expect(plain.stderr.includes(ERASE)).toBe(false)

    const json = await runBk(['trac', 'hotcopy', env, join(tempDir('bk-progress-'), 'copy'), '--progress=json'], {
      env: {BK_PROGRESS_DELAY_MS: '0'},
    })
    expect(json.exitCode, json.stderr).toBe(0)
    const events = json.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as {step: string; unit: string; done: number; finished?: boolean})
    expect(events.length, json.stderr).toBeGreaterThan(0)
    const ended = events.filter((e) => e.finished)
    expect(ended.length).toBeGreaterThan(0)
    // the copy step counted at least the 24 MiB of attachments
    expect(Math.max(...ended.filter((e) => e.unit === 'bytes').map((e) => e.done))).toBeGreaterThanOrEqual(24 << 20)
  })
})
