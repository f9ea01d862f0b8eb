// Shared helpers for bench/*.bench.mjs: timing and peak memory of a command (GNU time), tables, data dirs.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, renameSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')

/** BENCH_SCALE scales the default sizes (1 = the sizes reported in closing notes; 0.05 for a quick run). */
export const scale = Number(process.env.BENCH_SCALE ?? '1')

/** A fresh scratch directory for one bench case (BENCH_DIR overrides the parent); remove it with cleanup(). */
export function benchDir(name) {
  const parent = process.env.BENCH_DIR ?? tmpdir()
  mkdirSync(parent, {recursive: true})
  return mkdtempSync(join(parent, `bk-bench-${name}-`))
}

export function cleanup(dir) {
  rmSync(dir, {recursive: true, force: true})
}

let discarded = 0
/**
 * Takes a run's output out of the way before the next run, without deleting it: renamed beside itself, removed with
 * the bench directory by cleanup(). Deleting thousands of files just before a run makes that run's own file creation
 * slow on ext4 (its inode allocator then checks each recently deleted inode: `recently_deleted` and the lock spinning
 * around it took 44 % of a Roundup export's samples, 16k files, 7-11 s instead of ~3 s), so a run's time would depend
 * on what the run before it deleted, not on the tool. A user's export or restore goes into a fresh folder.
 */
export function discard(...paths) {
  for (const path of paths) {
    if (!existsSync(path)) continue
    renameSync(path, join(dirname(path), `.discarded-${process.pid}-${discarded++}`))
  }
}

/** argv to run the workspace's built bk with every workspace plugin loaded. */
export function bk(...args) {
  return [process.execPath, join(repoRoot, 'apps/bk/bin/run.js'), ...args]
}

const bkEnv = {BK_DATA_DIR: join(repoRoot, '.bk-dev')}

/**
 * Runs argv under GNU time; returns wall seconds and peak RSS (MB) of the process tree's largest process.
 * Throws with the command's stderr when it fails.
 */
export function measure(argv, {env = {}, cwd, shell = false} = {}) {
  const cmd = shell ? ['sh', '-c', argv] : argv
  const started = process.hrtime.bigint()
  const result = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], {
    cwd,
    env: {...process.env, ...bkEnv, ...env},
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const lines = result.stderr.trim().split('\n')
  const peakKb = Number(lines.at(-1))
  if (result.status !== 0) {
    throw new Error(`bench: ${cmd.join(' ')} failed (exit ${result.status}):\n${result.stderr}`)
  }
  return {seconds, peakRssMB: peakKb / 1024, stdout: result.stdout}
}

/** Prints a markdown table: rows of {case, tool, seconds, peakRssMB, ratio?, note?}. */
export function printTable(title, rows) {
  console.log(`\n### ${title}\n`)
  console.log('| case | tool | time (s) | peak RSS (MB) | vs anchor | note |')
  console.log('| --- | --- | ---: | ---: | ---: | --- |')
  for (const r of rows) {
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`
    console.log(
      `| ${r.case} | ${r.tool} | ${r.seconds.toFixed(2)} | ${r.peakRssMB.toFixed(0)} | ${ratio} | ${r.note ?? ''} |`,
    )
  }
}

export function sh(command, options = {}) {
  const result = spawnSync('sh', ['-c', command], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options})
  if (result.status !== 0) throw new Error(`bench: '${command}' failed (exit ${result.status})`)
  return result.stdout
}

export const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? '3'))

export const median = (values) => {
  const s = [...values].sort((x, y) => x - y)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * Paired runs on a loaded machine: each round runs the anchor and every contender back to back (order rotated per
 * round), after `prepare()` (untimed: remove outputs, drop nothing else) and a `sync` (untimed: each run starts with no
 * dirty page of an earlier run to flush, so a tool that fsyncs never pays for the writeback of one that does not, and
 * a run's time does not depend on which ran before it). Returns one row per tool with the median
 * time, the median of the per-round ratios to the anchor, the largest peak RSS and the spread (max/min of the
 * anchor's times, as a noise figure).
 */
export function paired(label, anchor, contenders, prepare = () => {}) {
  const all = [anchor, ...contenders]
  const times = all.map(() => [])
  const rss = all.map(() => 0)
  for (let r = 0; r < rounds; r++) {
    const order = all.map((_, i) => i)
    for (let k = 0; k < r % all.length; k++) order.push(order.shift())
    for (const i of order) {
      prepare()
      spawnSync('sync', {stdio: 'ignore'})
      const m = measure(all[i].argv, all[i].options ?? {})
      times[i].push(m.seconds)
      rss[i] = Math.max(rss[i], m.peakRssMB)
      console.error(
        `bench: ${label} round ${r + 1}: ${all[i].tool} ${m.seconds.toFixed(2)} s, ${m.peakRssMB.toFixed(0)} MB`,
      )
    }
  }
  const spread = Math.max(...times[0]) / Math.min(...times[0])
  return all.map((t, i) => ({
    case: label,
    tool: t.tool,
    seconds: median(times[i]),
    peakRssMB: rss[i],
    ratio: median(times[i].map((s, r) => s / times[0][r])),
    note: i === 0 ? `${rounds} rounds, anchor spread ${spread.toFixed(2)}x` : (t.note ?? ''),
  }))
}
