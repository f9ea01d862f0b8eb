// Core archive: bk's createArchive on a generated folder (1 GiB at BENCH_SCALE=1) beside tar -czf and tar --zstd.
// Reports wall time and peak RSS (the bound for bk: under 200 MB).
import {randomBytes} from 'node:crypto'
import {closeSync, mkdirSync, openSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, cleanup, measure, printTable, repoRoot, scale, sh} from './lib.mjs'

const totalBytes = Math.round(1024 * 1024 * 1024 * scale)

/** Half incompressible (random), half text-like (compressible), in files from 1 KiB to 8 MiB, plus empty dirs. */
function generate(dir) {
  let written = 0
  let n = 0
  const words = 'ticket wiki milestone component attachment blob transaction revision changeset '.repeat(200)
  while (written < totalBytes) {
    const sub = join(dir, `d${n % 37}`, `e${n % 11}`)
    mkdirSync(sub, {recursive: true})
    const size = n % 10 === 0 ? 8 * 1024 * 1024 : n % 3 === 0 ? 1024 : 256 * 1024
    const fd = openSync(join(sub, `f${n}.dat`), 'w')
    let left = Math.min(size, totalBytes - written)
    while (left > 0) {
      const chunk = Math.min(left, 1024 * 1024)
      const buf =
        n % 2 === 0 ? randomBytes(chunk) : Buffer.from(words.repeat(Math.ceil(chunk / words.length)).slice(0, chunk))
      writeSync(fd, buf)
      left -= chunk
      written += chunk
    }
    closeSync(fd)
    n++
  }
  mkdirSync(join(dir, 'empty', 'dir'), {recursive: true})
  return {files: n, bytes: written}
}

const work = benchDir('archive')
try {
  const src = join(work, 'src')
  mkdirSync(src)
  const {files} = generate(src)
  sh('sync')
  const runner = join(repoRoot, 'bench', 'archive-run.mjs')
  const rows = []
  const base = measure(['tar', '-czf', join(work, 'tar.tar.gz'), '-C', src, '.'])
  rows.push({case: 'gzip', tool: 'tar -czf', ...base, ratio: 1})
  const bkGz = measure([process.execPath, runner, src, join(work, 'bk.tar.gz')])
  rows.push({case: 'gzip', tool: 'bk createArchive', ...bkGz, ratio: bkGz.seconds / base.seconds})
  let zstd = false
  try {
    sh('command -v zstd')
    zstd = true
  } catch {}
  if (zstd) {
    const zb = measure(['tar', '--zstd', '-cf', join(work, 'tar.tar.zst'), '-C', src, '.'])
    rows.push({case: 'zstd', tool: 'tar --zstd', ...zb, ratio: 1})
    const bz = measure([process.execPath, runner, src, join(work, 'bk.tar.zst')])
    rows.push({case: 'zstd', tool: 'bk createArchive', ...bz, ratio: bz.seconds / zb.seconds})
  }
  printTable(`archive a ${(totalBytes / 2 ** 30).toFixed(2)} GiB folder (${files} files)`, rows)
  const worst = Math.max(...rows.filter((r) => r.tool.startsWith('bk')).map((r) => r.peakRssMB))
  console.log(`\nbk peak RSS ${worst.toFixed(0)} MB (bound: 200 MB) ${worst < 200 ? 'OK' : 'OVER'}`)
} finally {
  cleanup(work)
}
