// Follow: `bk trac follow` (the SQLite follower, on a generated Trac environment in WAL mode) and `bk zodb follow`
// (on a synthetic FileStorage), each while a writer in this process commits every 10 ms for a few seconds.
// Reported per row (median over BENCH_ROUNDS runs): lag p50/p99 from each commit to the --json line announcing
// the shipment that holds it (read here, same clock); the follower's CPU while nothing is committed (CPU time of
// all its threads over an idle window, % of one core; goal < 1 %); bytes the location grew by per byte the
// writer committed (WAL growth for SQLite — autocheckpoint off in the writer and --checkpoint-frames high, so
// the WAL only grows —, Data.fs growth for ZODB; goal ≤ 1.05); peak RSS of the follower. Each command runs with
// its default --interval (0.1 s for SQLite, 1 s for ZODB).
import {spawn} from 'node:child_process'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {benchDir, bk, cleanup, median, repoRoot, rounds, scale} from './lib.mjs'

const {makeExampleEnvironment} = await import(join(repoRoot, 'packages/plugin-trac/dist/index.js'))
const {SyntheticStorage} = await import(join(repoRoot, 'packages/plugin-zodb/dist/synthetic-storage.js'))
const Database = createRequire(join(repoRoot, 'packages/plugin-trac/package.json'))('better-sqlite3')

const writeSeconds = Math.min(5, Math.max(2, 5 * scale))
// idle: one period of the SQLite follower's scan of the application's folders (5 s) at scale 1
const idleSeconds = Math.min(5, Math.max(2, 5 * scale))
const COMMIT_EVERY_MS = 10
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Total bytes of the files under dir. */
function treeBytes(dir) {
  let total = 0
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += treeBytes(p)
    else if (e.isFile()) total += statSync(p).size
  }
  return total
}

/** CPU time (ns) of every thread of pid: the first field of /proc/<pid>/task/<tid>/schedstat. */
function cpuNs(pid) {
  let total = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // the thread ended meanwhile
    }
  }
  return total
}

const peakRssMB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024

/** The follower as a child process; `lines` holds every --json line with the time it arrived. */
function startFollower(args) {
  const [node, ...rest] = bk(...args, '--json')
  const child = spawn(node, rest, {
    env: {...process.env, NO_COLOR: '1', BK_DATA_DIR: join(repoRoot, '.bk-dev')},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines = []
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => {
    const at = Date.now()
    out += d.toString()
    let nl = out.indexOf('\n')
    while (nl >= 0) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      if (line.startsWith('{')) lines.push({at, doc: JSON.parse(line)})
      nl = out.indexOf('\n')
    }
  })
  child.stderr.on('data', (d) => {
    err += d.toString()
  })
  const exited = new Promise((r) => child.on('exit', (code) => r(code)))
  const until = async (ok, what) => {
    const deadline = Date.now() + 120_000
    while (!ok()) {
      if (child.exitCode !== null) throw new Error(`bench: follower exited waiting for ${what}:\n${err}`)
      if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}:\n${err}`)
      await sleep(20)
    }
  }
  return {child, lines, until, exited, stderr: () => err}
}

/**
 * One run: start the follower, wait for its first shipment, commit every 10 ms for writeSeconds, wait until every
 * commit is shipped, measure an idle window, stop. `count(doc)` is how many of the writer's commits a shipment
 * line holds (0 for lines that are not shipments of commits).
 */
async function run({args, location, commit, committedBytes, count}) {
  const f = startFollower(args)
  try {
    await f.until(() => f.lines.length > 0, 'the first shipment')
    await sleep(300)
    const before = f.lines.length
    const locationBefore = treeBytes(location)
    const committedBefore = committedBytes()
    const commits = []
    const stopAt = Date.now() + writeSeconds * 1000
    while (Date.now() < stopAt) {
      commit()
      commits.push(Date.now())
      await sleep(COMMIT_EVERY_MS)
    }
    const shipped = () => f.lines.slice(before).reduce((n, l) => n + count(l.doc), 0)
    await f.until(() => shipped() >= commits.length, 'every commit to be shipped')
    // lag: commit i is in the first shipment after which the running count exceeds i
    const lags = []
    let n = 0
    for (const l of f.lines.slice(before)) {
      const c = count(l.doc)
      for (let i = n; i < n + c && i < commits.length; i++) lags.push(l.at - commits[i])
      n += c
    }
    lags.sort((a, b) => a - b)
    const bytesRatio = (treeBytes(location) - locationBefore) / (committedBytes() - committedBefore)
    await sleep(1000)
    const cpu0 = cpuNs(f.child.pid)
    const t0 = process.hrtime.bigint()
    await sleep(idleSeconds * 1000)
    const idleCpu = (100 * (cpuNs(f.child.pid) - cpu0)) / Number(process.hrtime.bigint() - t0)
    const rss = peakRssMB(f.child.pid)
    return {
      commits: commits.length,
      p50: lags[Math.floor(lags.length * 0.5)],
      p99: lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))],
      idleCpu,
      bytesRatio,
      rss,
    }
  } finally {
    f.child.kill('SIGTERM')
    const code = await f.exited
    if (code !== 0) console.error(`bench: follower exited ${code}:\n${f.stderr()}`)
  }
}

async function sqliteRound(work, r) {
  const env = join(work, `trac-${r}`)
  await makeExampleEnvironment(env, {tickets: 50, wikiPages: 10, attachments: 1, attachmentBytes: 1024, wal: true})
  const dbFile = join(env, 'db/trac.db')
  const db = new Database(dbFile, {timeout: 60000})
  db.pragma('journal_mode = WAL')
  db.pragma('wal_autocheckpoint = 0')
  const ins = db.prepare(
    "INSERT INTO ticket (type, time, changetime, status, summary, description) VALUES ('defect', ?, ?, 'new', 'bench writer', ?)",
  )
  const description = 'A steady writer: each commit is one ticket with a short description. '.repeat(8)
  const location = join(work, `trac-follow-${r}`)
  try {
    return await run({
      args: ['trac', 'follow', env, '--location', location, '--checkpoint-frames', '100000000'],
      location,
      commit: () => ins.run(Date.now() * 1000, Date.now() * 1000, description),
      committedBytes: () => statSync(`${dbFile}-wal`).size,
      count: (doc) => (doc.shipped === 'wal' ? doc.commits : 0),
    })
  } finally {
    db.close()
  }
}

async function zodbRound(work, r) {
  const datafs = join(work, `Data-${r}.fs`)
  const storage = SyntheticStorage.open(datafs)
  const text = Buffer.from('persistent.mapping PersistentMapping Products.CMFPlone title description '.repeat(20))
  let oid = 0
  for (let i = 0; i < 200; i++) storage.commit({oids: [oid++ % 1000, oid++ % 1000], size: 1024, data: text})
  const location = join(work, `zodb-follow-${r}`)
  return run({
    args: ['zodb', 'follow', datafs, '--location', location],
    location,
    commit: () => storage.commit({oids: [oid++ % 1000, oid++ % 1000], size: 1024, data: text}),
    committedBytes: () => statSync(datafs).size,
    count: (doc) => (doc.kind === 'incremental' ? doc.transactions : 0),
  })
}

const fmt = (results, key, digits = 0) => median(results.map((x) => x[key])).toFixed(digits)
/** The median, and the range over the rounds when there are several (a loaded machine makes idle CPU noisy). */
const fmtRange = (results, key, digits) => {
  const v = results.map((x) => x[key])
  const range = v.length > 1 ? ` (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})` : ''
  return `${fmt(results, key, digits)}${range}`
}

const work = benchDir('follow')
try {
  const rows = []
  for (const [label, round] of [
    ['bk trac follow (SQLite WAL, --interval 0.1)', sqliteRound],
    ['bk zodb follow (FileStorage, --interval 1)', zodbRound],
  ]) {
    const results = []
    for (let r = 0; r < rounds; r++) {
      const res = await round(work, r)
      console.error(
        `bench: follow ${label} round ${r + 1}: ${res.commits} commits, lag p50 ${res.p50} ms p99 ${res.p99} ms, idle CPU ${res.idleCpu.toFixed(2)} %, bytes ${res.bytesRatio.toFixed(3)}x`,
      )
      results.push(res)
    }
    rows.push({label, results})
  }
  console.log(
    `\n### Follow: a writer committing every ${COMMIT_EVERY_MS} ms for ${writeSeconds} s, then ${idleSeconds} s idle (median of ${rounds} runs)\n`,
  )
  console.log(
    '| follower | commits | lag p50 (ms) | lag p99 (ms) | idle CPU (% of a core, goal < 1) | bytes shipped / committed (goal ≤ 1.05) | peak RSS (MB) |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const {label, results} of rows) {
    console.log(
      `| ${label} | ${fmt(results, 'commits')} | ${fmt(results, 'p50')} | ${fmtRange(results, 'p99', 0)} | ${fmtRange(results, 'idleCpu', 2)} | ${fmt(results, 'bytesRatio', 3)} | ${Math.max(...results.map((x) => x.rss)).toFixed(0)} |`,
    )
  }
} finally {
  cleanup(work)
}
