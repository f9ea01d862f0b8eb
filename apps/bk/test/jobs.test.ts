/**
 * bk run / status / schedule / report on real trac backups, with a local HTTP server standing in for
 * healthchecks.io and ntfy (it records each request), and systemd-analyze checking the unit files.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {runBk, tempDir} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {jobsSetup} from './jobs-fixture.js'

interface Hit {
  method: string
  path: string
  body: string
}

let server: Server
let base: string
const hits: Hit[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c.toString()
    })
    req.on('end', () => {
      hits.push({method: req.method ?? '', path: req.url ?? '', body})
      res.end('OK')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

const setup = () => jobsSetup(base)

describe('bk run', () => {
  it('runs every job, continues past a failing one, pings start/success/fail and records the runs', async () => {
    const s = await setup()
    hits.length = 0
    const run = await runBk(['run'], {cwd: s.dir, env: s.env})
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/^ok +trac-good/m)
    expect(run.stdout).toMatch(/^FAILED +broken/m)
    expect(run.stderr).toMatch(/1 of 2 jobs failed: broken/)
    const seen = hits.map((h) => `${h.method} ${h.path}`)
    expect(seen).toEqual([
      'GET /good-uuid/start',
      'GET /good-uuid',
      'GET /bad-uuid/start',
      'POST /bad-uuid/fail',
      'POST /topic-secret',
    ])
    expect(hits[3]?.body).toMatch(/no such env/)
    expect(hits[4]?.body).toMatch(/no such env/)
    // The ping URLs are secrets: never printed.
    expect(run.stdout + run.stderr).not.toMatch(/good-uuid|bad-uuid|topic-secret/)
    const log = readFileSync(join(s.env.BK_STATE_DIR as string, 'runs.jsonl'), 'utf8')
      .trim()
      .split('\n')
    const records = log.map(
      (l) => JSON.parse(l) as {job: string; status: string; artifacts?: {path: string}[]; verified?: boolean},
    )
    expect(records.map((r) => [r.job, r.status])).toEqual([
      ['trac-good', 'ok'],
      ['broken', 'failed'],
    ])
    expect(records[0]?.verified).toBe(true)
    expect(existsSync(records[0]?.artifacts?.[0]?.path as string)).toBe(true)
  })

  it('runs only the jobs named, and refuses an unknown name listing the known ones', async () => {
    const s = await setup()
    const one = await runBk(['run', 'trac-good', '--json'], {cwd: s.dir, env: s.env})
    expect(one.exitCode, one.stderr).toBe(0)
    expect(one.json<{runs: {job: string}[]}>().runs.map((r) => r.job)).toEqual(['trac-good'])
    const bad = await runBk(['run', 'nope'], {cwd: s.dir, env: s.env})
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toMatch(/no job named 'nope' in bk.yml \(jobs: trac-good, broken\)/)
  })
})

describe('bk status', () => {
  it('is green for a fresh good backup, red for a failed job, a missing artifact or a stale one', async () => {
    const s = await setup()
    await runBk(['run'], {cwd: s.dir, env: s.env})
    const good = await runBk(['status', 'trac-good', '--json'], {cwd: s.dir, env: s.env})
    expect(good.exitCode, good.stderr).toBe(0)
    const doc = good.json<{ok: boolean; jobs: {state: string; lastGood: {bytes: number; verified: boolean}}[]}>()
    expect(doc.jobs[0]?.state).toBe('ok')
    expect(doc.jobs[0]?.lastGood.verified).toBe(true)
    expect(doc.jobs[0]?.lastGood.bytes).toBeGreaterThan(0)
    const all = await runBk(['status'], {cwd: s.dir, env: s.env})
    expect(all.exitCode).toBe(1)
    expect(all.stdout).toMatch(/^FAILED {3}broken/m)
    // The artifact removed behind bk's back: status says so.
    rmSync(s.loc, {recursive: true, force: true})
    const gone = await runBk(['status', 'trac-good'], {cwd: s.dir, env: s.env})
    expect(gone.exitCode).toBe(1)
    expect(gone.stdout).toMatch(/^MISSING {2}trac-good .*artifact missing or changed/m)
    // A run log from three days ago: stale (daily → stale after 48 h).
    const state = s.env.BK_STATE_DIR as string
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString()
    writeFileSync(
      join(state, 'runs.jsonl'),
      `${JSON.stringify({job: 'trac-good', command: 'x', started: old, finished: old, seconds: 1, status: 'ok', exit: 0, artifacts: []})}\n`,
    )
    const stale = await runBk(['status', 'trac-good'], {cwd: s.dir, env: s.env})
    expect(stale.exitCode).toBe(1)
    expect(stale.stdout).toMatch(/^STALE +trac-good .*stale after 48 h/m)
  })
})

describe('bk schedule', () => {
  it('--dry-run prints the unit files and writes nothing', async () => {
    const s = await setup()
    const units = join(s.dir, 'units')
    const dry = await runBk(['schedule', 'install', '--scheduler', 'systemd', '--unit-dir', units, '--dry-run'], {
      cwd: s.dir,
      env: s.env,
    })
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/^# .*bk-trac-good\.timer\n\[Unit\]/m)
    expect(dry.stdout).toMatch(/^OnCalendar=hourly$/m)
    expect(existsSync(units)).toBe(false)
  })

  it('installs systemd units that systemd-analyze accepts, lists them, removes them', async () => {
    const s = await setup()
    const units = join(s.dir, 'units')
    const flags = ['--scheduler', 'systemd', '--unit-dir', units, '--no-enable', '--yes']
    const install = await runBk(['schedule', 'install', ...flags], {cwd: s.dir, env: s.env})
    expect(install.exitCode, install.stderr).toBe(0)
    const timer = readFileSync(join(units, 'bk-trac-good.timer'), 'utf8')
    expect(timer).toMatch(/^OnCalendar=daily$/m)
    const service = readFileSync(join(units, 'bk-trac-good.service'), 'utf8')
    expect(service).toMatch(/^ExecStart=\S+node \S+run\.js run trac-good --quiet --config \S+bk\.yml$/m)
    expect(service).toMatch(/^Environment=BK_STATE_DIR=/m)
    if (spawnSync('systemd-analyze', ['--version']).status === 0) {
      const files = ['bk-trac-good.service', 'bk-trac-good.timer', 'bk-broken.service', 'bk-broken.timer']
      execFileSync('systemd-analyze', ['verify', ...files.map((f) => join(units, f))])
      // The check can fail: a unit with a bad key is refused.
      writeFileSync(join(units, 'bad.service'), '[Service]\nExecStart=relative/path\n')
      expect(spawnSync('systemd-analyze', ['verify', join(units, 'bad.service')]).status).not.toBe(0)
      rmSync(join(units, 'bad.service'))
    } else if (process.env.CI) {
      throw new Error('systemd-analyze is missing (apt-get install systemd)')
    }
    const list = await runBk(['schedule', 'list', '--scheduler', 'systemd', '--unit-dir', units], {
      cwd: s.dir,
      env: s.env,
    })
    expect(list.stdout).toMatch(/^installed {2}trac-good {2}daily/m)
    const remove = await runBk(['schedule', 'remove', 'broken', ...flags], {cwd: s.dir, env: s.env})
    expect(remove.exitCode, remove.stderr).toBe(0)
    expect(existsSync(join(units, 'bk-broken.timer'))).toBe(false)
    expect(existsSync(join(units, 'bk-trac-good.timer'))).toBe(true)
  })

  it('writes one cron file where there is no systemd, and removes a job from it', async () => {
    const s = await setup()
    const cron = join(s.dir, 'cron.d', 'bk')
    mkdirSync(join(s.dir, 'cron.d'))
    const flags = ['--scheduler', 'cron', '--cron-file', cron, '--yes']
    expect((await runBk(['schedule', 'install', ...flags], {cwd: s.dir, env: s.env})).exitCode).toBe(0)
    const text = readFileSync(cron, 'utf8')
    expect(text).toMatch(
      /^17 3 \* \* \* root (BK_\w+=\S+ )*BK_STATE_DIR=\S+ (BK_\w+=\S+ )*\S+node \S+ run trac-good --quiet --config \S+$/m,
    )
    expect(text).toMatch(/^17 \* \* \* \* root .* run broken --quiet/m)
    await runBk(['schedule', 'remove', 'trac-good', ...flags], {cwd: s.dir, env: s.env})
    expect(readFileSync(cron, 'utf8')).not.toMatch(/run trac-good/)
    expect(readFileSync(cron, 'utf8')).toMatch(/run broken/)
  })
})

describe('bk report', () => {
  it('writes one self-contained HTML page with every job, rendered by headless Chromium', async () => {
    const s = await setup()
    await runBk(['run'], {cwd: s.dir, env: s.env})
    const out = join(s.dir, 'report.html')
    const made = await runBk(['report', '--output', out], {cwd: s.dir, env: s.env})
    expect(made.exitCode, made.stderr).toBe(0)
    const html = readFileSync(out, 'utf8')
    expect(html).not.toMatch(/<script|<link|src="http|href="http/)
    expect(html).toMatch(/id="job-trac-good"/)
    const chromium = ['chromium', 'chromium-browser'].find((c) => spawnSync(c, ['--version']).status === 0)
    if (!chromium) {
      if (process.env.CI) throw new Error('chromium is missing (apt-get install chromium)')
      console.log('bk report: chromium not installed, page not rendered (apt-get install chromium)')
      return
    }
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run']
    const profile = tempDir('bk-chromium-')
    const dom = execFileSync(chromium, [...args, `--user-data-dir=${profile}`, '--dump-dom', pathToFileURL(out).href], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    expect(dom).toMatch(/2 jobs, 1 need attention/)
    expect(dom).toMatch(/trac-good <span class="state"[^>]*>ok</)
    expect(dom).toMatch(/broken <span class="state"[^>]*>failed</)
    expect(dom).toMatch(/no such env/)
  })
})
