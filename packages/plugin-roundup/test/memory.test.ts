// Peak memory stays bounded whatever the data size (issue 13: ≤ 200 MB): a tracker of 40 000 issues, 128 000 files
// under db/files, backed up and exported by the real bk binary, its peak resident memory read as it exits.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {runBk, tempDir} from '@bkcli/testkit'
import {beforeAll, describe, expect, it} from 'vitest'
import {makeExampleTracker} from '../src/example.js'

const BOUND_KIB = 200 * 1024
const preload = fileURLToPath(new URL('./peak-rss.mjs', import.meta.url))

describe('peak memory of a large tracker (40 000 issues, 128 000 files)', () => {
  let home = ''
  let made = {issues: 0, messages: 0, files: 0}
  beforeAll(async () => {
    home = join(tempDir('bk-rss-'), 'big')
    made = await makeExampleTracker(home, {issues: 40_000})
  }, 180_000)

  async function peakOf(args: string[]): Promise<{peak: number; json: Record<string, unknown>}> {
    const out = join(tempDir('bk-rss-out-'), 'peak')
    const result = await runBk([...args, '--json'], {
      env: {NODE_OPTIONS: `--import ${preload}`, BK_TEST_PEAK_RSS_FILE: out},
    })
    expect(result.stderr).not.toMatch(/error/i)
    expect(result.exitCode).toBe(0)
    const peak = Number(readFileSync(out, 'utf8'))
    // the figure in the test log: how far below the bound a run stays is worth seeing on every run
    console.log(`bk ${args[0]} ${args[1]}: peak ${(peak / 1024).toFixed(1)} MiB (bound ${BOUND_KIB / 1024})`)
    return {peak, json: result.json<Record<string, unknown>>()}
  }

  it('backup: every file listed in the archive, peak ≤ 200 MB', async () => {
    expect(made.messages).toBe(120_000)
    const {peak, json} = await peakOf(['roundup', 'backup', home, '--location', tempDir('bk-rss-loc-')])
    // messages and files as db/files entries, plus the database snapshot and the home's own files
    expect(json.files).toBeGreaterThanOrEqual(made.messages + made.files + 1)
    expect(peak).toBeGreaterThan(10 * 1024) // the figure is real (KiB), not a unit slip
    expect(peak).toBeLessThanOrEqual(BOUND_KIB)
  }, 180_000)
})
