// Shared helpers for bench/*.bench.mjs: timing and peak memory of a command (GNU time), tables, data dirs.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
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
  console.log('| case | tool | time (s) | peak RSS (MB) | vs baseline | note |')
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
