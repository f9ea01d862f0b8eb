/**
 * The five applications run unattended from one bk.yml, on the fixtures: one job per application, each copying
 * its backup to a restic repository. The unit files of `bk schedule install --dry-run` pass systemd-analyze,
 * `bk run` runs the five, `bk status` is green with an off-site copy for each; one job broken on purpose turns
 * status red and sends a /fail ping with its error to a local HTTP server; `bk report --output` shows all five
 * (rendered by headless Chromium). BK_REPORT_SCREENSHOT=<file.png> keeps a screenshot of the page.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {extractFixture, fixturePath, fixtureTestsRun, offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

interface Hit {
  method: string
  path: string
  body: string
}

let server: Server
let base: string
const hits: Hit[] = []
let dropSite: (() => void) | undefined

function mysqlRoot(sql: string, database?: string): string {
  const args = ['-uroot', '-h127.0.0.1', '-P3306', '--default-character-set=utf8mb4', '--batch', '--skip-column-names']
  const r = spawnSync('mysql', database ? [...args, database] : args, {input: sql, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`mysql failed: ${r.stderr}`)
  return r.stdout
}

/**
 * The Aegir fixture site on a database of its own: the fixture backup's database.sql loaded into a uniquely named
 * MariaDB database with its own user, settings.php and drushrc.php pointed at it.
 */
function aegirSite(): {site: string; location: string; drop(): void} {
  const tag = randomBytes(4).toString('hex')
  const [database, user, password] = [`bkf_${tag}_db`, `bkf_${tag}`, `Pw_${randomBytes(6).toString('hex')}`]
  const root = extractFixture('aegir', 'platforms')
  const site = join(root, 'platforms/drupal-7/sites/example.com')
  const backups = readdirSync(fixturePath('aegir', 'backups')).filter((n) => n.endsWith('.tar.gz'))
  const dumpDir = tempDir()
  execFileSync('tar', ['-xzf', fixturePath('aegir', 'backups', backups[0]!), '-C', dumpDir, './database.sql'])
  mysqlRoot(
    `CREATE DATABASE \`${database}\`; CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON \`${database}\`.* TO '${user}'@'%';`,
  )
  mysqlRoot(readFileSync(join(dumpDir, 'database.sql'), 'utf8'), database)
  for (const name of ['settings.php', 'drushrc.php']) {
    const text = readFileSync(join(site, name), 'utf8')
      .replaceAll('site_examplecom', database)
      .replaceAll('examplecom', user)
      .replaceAll('Xk3vP9qLm2', password)
    writeFileSync(join(site, name), text)
  }
  return {
    site,
    location: join(root, 'backups'),
    drop: () => mysqlRoot(`DROP DATABASE IF EXISTS \`${database}\`; DROP USER IF EXISTS '${user}'@'%';`),
  }
}

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
afterAll(async () => {
  dropSite?.()
  await new Promise<void>((r) => server.close(() => r()))
})

interface JobStatus {
  job: string
  state: string
  problems: string[]
  lastGood?: {offsite?: boolean; offsiteTargets?: string[]; verified?: boolean}
}

/** Splits `schedule install --dry-run` output ("# <path>" then the file) into files. */
function unitFiles(text: string): Record<string, string> {
  const files: Record<string, string> = {}
  let current: string | undefined
  for (const line of text.split('\n')) {
    const header = /^# (\S+\.(?:service|timer))$/.exec(line)
    if (header) {
      current = header[1]!.split('/').pop()!
      files[current] = ''
    } else if (current && !/^Nothing was changed/.test(line)) files[current] += `${line}\n`
  }
  return files
}

describe.skipIf(!fixtureTestsRun())('five applications, one bk.yml', () => {
  it('schedule, run, status green with off-site copies, a broken job red with a /fail ping, a report of all five', async () => {
    const dir = tempDir('bk-five-')
    const targets = offsiteTargets()
    const repo = targets.restic
    const trac = join(extractFixture('trac', 'sqlite-env'), 'sqlite-env')
    const roundup = join(extractFixture('roundup', 'sqlite-home'), 'sqlite-home')
    const zodbRoot = extractFixture('zodb', 'live')
    const stack = join(extractFixture('iotstack', 'stack'), 'stack')
    const site = aegirSite()
    dropSite = site.drop
    const loc = (name: string) => join(dir, 'backups', name)
    const zodbSite = `--datafs ${join(zodbRoot, 'live/Data.fs')} --blob-storage ${join(zodbRoot, 'live/blobstorage')} --location-prefix ${join(zodbRoot, 'var')}`
    const jobs = [
      {name: 'trac-main', run: `trac backup ${trac} --location ${loc('trac')}`, verify: true},
      {name: 'roundup-issues', run: `roundup backup ${roundup} --location ${loc('roundup')}`, verify: true},
      {name: 'zodb-plone', run: `zodb backup ${zodbSite}`, verify: false},
      {name: 'aegir-example', run: `aegir backup ${site.site} --location ${site.location}`, verify: true},
      {name: 'iotstack-pi', run: `iotstack backup ${stack} --type dated`, verify: false},
    ]
    writeFileSync(
      join(dir, 'bk.yml'),
      `jobs:\n${jobs
        .map(
          (j) =>
            `  - name: ${j.name}\n    run: ${j.run} --copy-to ${repo}\n    schedule: daily\n    ping: ${base}/${j.name}-uuid\n    verify: ${j.verify}\n`,
        )
        .join('')}`,
    )
    const env = {...targets.env, BK_STATE_DIR: join(dir, 'state')}
    const opts = {cwd: dir, env}

    // The timers, as --dry-run prints them, pass systemd-analyze.
    const dry = await runBk(['schedule', 'install', '--scheduler', 'systemd', '--dry-run'], opts)
    expect(dry.exitCode, dry.stderr).toBe(0)
    const units = unitFiles(dry.stdout)
    expect(Object.keys(units).sort()).toEqual(
      jobs.flatMap((j) => [`bk-${j.name}.service`, `bk-${j.name}.timer`]).sort(),
    )
    if (spawnSync('systemd-analyze', ['--version']).status === 0) {
      const unitDir = join(dir, 'units')
      mkdirSync(unitDir)
      for (const [name, text] of Object.entries(units)) writeFileSync(join(unitDir, name), text)
      execFileSync('systemd-analyze', ['verify', ...Object.keys(units).map((n) => join(unitDir, n))])
    } else if (process.env.CI) {
      throw new Error('systemd-analyze is missing (apt-get install systemd)')
    }

    // All five run and are green, each with its off-site copy.
    const run = await runBk(['run'], opts)
    expect(run.exitCode, run.stderr).toBe(0)
    const green = await runBk(['status', '--json'], opts)
    expect(green.exitCode, green.stdout).toBe(0)
    const states = green.json<{jobs: JobStatus[]}>().jobs
    expect(states.map((s) => [s.job, s.state, s.lastGood?.offsite, s.lastGood?.offsiteTargets])).toEqual(
      jobs.map((j) => [j.name, 'ok', true, [repo]]),
    )
    expect(states.filter((s) => s.lastGood?.verified).map((s) => s.job)).toEqual(
      jobs.filter((j) => j.verify).map((j) => j.name),
    )
    for (const j of jobs) {
      expect(hits.filter((h) => h.path.startsWith(`/${j.name}-uuid`)).map((h) => h.path)).toEqual([
        `/${j.name}-uuid/start`,
        `/${j.name}-uuid`,
      ])
    }
    // The repository holds a copy of each application.
    for (const app of ['trac', 'roundup', 'zodb', 'aegir', 'iotstack']) {
      const list = await runBk(
        [app, 'pull', repo, ...(app === 'zodb' ? zodbSite.split(' ') : []), '--list', '--json'],
        opts,
      )
      expect(list.exitCode, list.stderr).toBe(0)
      expect(list.json<{artifacts: unknown[]}>().artifacts).toHaveLength(1)
    }

    // Break one: the roundup home disappears.
    renameSync(roundup, `${roundup}.gone`)
    hits.length = 0
    const broken = await runBk(['run'], opts)
    expect(broken.exitCode).not.toBe(0)
    const red = await runBk(['status', '--json'], opts)
    expect(red.exitCode).not.toBe(0)
    const after = red.json<{jobs: JobStatus[]}>().jobs
    expect(after.filter((s) => s.state !== 'ok').map((s) => [s.job, s.state])).toEqual([['roundup-issues', 'failed']])
    const fail = hits.find((h) => h.path === '/roundup-issues-uuid/fail')
    expect(fail?.method).toBe('POST')
    expect(fail?.body).toContain(roundup)
    expect(hits.filter((h) => h.path.endsWith('/fail')).map((h) => h.path)).toEqual(['/roundup-issues-uuid/fail'])

    // The report shows all five.
    const out = join(dir, 'report.html')
    const made = await runBk(['report', '--output', out], opts)
    expect(made.exitCode, made.stderr).toBe(0)
    const html = readFileSync(out, 'utf8')
    expect(html).not.toMatch(/<script|<link|src="http|href="http/)
    const chromium = ['chromium', 'chromium-browser'].find((c) => spawnSync(c, ['--version']).status === 0)
    if (!chromium) {
      if (process.env.CI) throw new Error('chromium is missing (apt-get install chromium)')
      return
    }
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run']
    const dom = execFileSync(
      chromium,
      [...args, `--user-data-dir=${tempDir('bk-chromium-')}`, '--dump-dom', pathToFileURL(out).href],
      {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']},
    )
    expect(dom).toMatch(/5 jobs, 1 need attention/)
    for (const j of jobs) {
      const state = j.name === 'roundup-issues' ? 'failed' : 'ok'
      expect(dom).toMatch(new RegExp(`${j.name} <span class="state"[^>]*>${state}<`))
    }
    expect(dom).toContain(`off-site: yes (${repo})`)
    const shot = join(dir, 'report.png')
    execFileSync(
      chromium,
      [
        ...args,
        `--user-data-dir=${tempDir('bk-chromium-')}`,
        '--window-size=1200,2700',
        `--screenshot=${shot}`,
        pathToFileURL(out).href,
      ],
      {stdio: 'ignore'},
    )
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG')
    if (process.env.BK_REPORT_SCREENSHOT) copyFileSync(shot, process.env.BK_REPORT_SCREENSHOT)
  })
})
