// Core archive engine: bk's createArchive and extractArchive beside tar -czf / tar --zstd / tar -xzf on the same
// data, in paired rounds (BENCH_ROUNDS, default 3; medians). Two data sets: a 1 GiB folder at BENCH_SCALE=1 (half
// incompressible, half text, 1 KiB to 8 MiB files) and 64k files of 2 KB. BK_CORE_BEFORE=<a core dist folder> adds
// a "before" row (another build of core) to every case. Reports wall time and peak RSS (bound for bk: 200 MB).
import {randomBytes} from 'node:crypto'
import {closeSync, mkdirSync, openSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, cleanup, discard, paired, printTable, repoRoot, scale, sh} from './lib.mjs'

const totalBytes = Math.round(1024 * 1024 * 1024 * scale)
const smallCount = Math.max(1000, Math.round(65536 * scale))

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

function generateSmall(dir) {
  const body = Buffer.alloc(2048)
  for (let n = 0; n < smallCount; n++) {
    const sub = join(dir, `d${n % 64}`)
    if (n < 64) mkdirSync(sub, {recursive: true})
    body.write(`${n} ${'x'.repeat(40)}`, 0)
    writeFileSync(join(sub, `f${n}.txt`), body)
  }
}

const runner = join(repoRoot, 'bench', 'archive-run.mjs')
const before = process.env.BK_CORE_BEFORE
const bkRows = (args, note = '') => {
  const rows = [{tool: 'bk', argv: [process.execPath, runner, ...args], note}]
  rows.push({
    tool: 'bk, node engines',
    argv: [process.execPath, runner, ...args],
    options: {env: {BK_ARCHIVE_ENGINE: 'node'}},
    note: 'BK_ARCHIVE_ENGINE=node: node-tar + zlib',
  })
  if (before)
    rows.push({tool: 'bk before', argv: [process.execPath, runner, ...args], options: {env: {BK_CORE: before}}})
  return rows
}

/** The anchor made as durable as bk's output (bk fsyncs the archive before it renames it into place). */
const durable = (tool, argv, file) => ({
  tool: `${tool} + sync FILE`,
  argv: ['sh', '-c', `"$@" && sync "${file}"`, 'sh', ...argv],
  note: 'the anchor with the fsync bk does',
})

const work = benchDir('archive')
try {
  const big = join(work, 'big')
  const small = join(work, 'small')
  mkdirSync(big)
  mkdirSync(small)
  const {files} = generate(big)
  generateSmall(small)
  sh('sync')
  const out = (name) => join(work, name)
  const clean = () => {
    discard(...['a.tar.gz', 'a.tar.zst', 'x'].map(out))
  }
  const rows = []
  const gib = (totalBytes / 2 ** 30).toFixed(2)
  rows.push(
    ...paired(
      `create ${gib} GiB (${files} files), gzip`,
      {tool: 'tar -czf', argv: ['tar', '-czf', out('a.tar.gz'), '-C', big, '.']},
      [
        durable('tar -czf', ['tar', '-czf', out('a.tar.gz'), '-C', big, '.'], out('a.tar.gz')),
        ...bkRows(['create', big, out('a.tar.gz')]),
      ],
      clean,
    ),
  )
  let zstd = false
  try {
    sh('command -v zstd')
    zstd = true
  } catch {}
  if (zstd)
    rows.push(
      ...paired(
        `create ${gib} GiB, zstd`,
        {tool: 'tar --zstd', argv: ['tar', '--zstd', '-cf', out('a.tar.zst'), '-C', big, '.']},
        [
          durable('tar --zstd', ['tar', '--zstd', '-cf', out('a.tar.zst'), '-C', big, '.'], out('a.tar.zst')),
          ...bkRows(['create', big, out('a.tar.zst')]).filter((r) => r.tool !== 'bk, node engines'),
        ],
        clean,
      ),
    )
  rows.push(
    ...paired(
      `create ${smallCount} files of 2 KB, gzip`,
      {tool: 'tar -czf', argv: ['tar', '-czf', out('a.tar.gz'), '-C', small, '.']},
      [
        durable('tar -czf', ['tar', '-czf', out('a.tar.gz'), '-C', small, '.'], out('a.tar.gz')),
        ...bkRows(['create', small, out('a.tar.gz')]),
      ],
      clean,
    ),
  )
  // extraction: the same archive (GNU tar's) for every tool, into a fresh folder
  const archive = join(work, 'src.tar.gz')
  sh(`tar -czf "${archive}" -C "${big}" .`)
  rows.push(
    ...paired(
      `extract ${gib} GiB, gzip`,
      {tool: 'tar -xzpf', argv: ['sh', '-c', `mkdir "${out('x')}" && tar -xzpf "${archive}" -C "${out('x')}"`]},
      bkRows(['extract', archive, out('x')], 'every entry checked'),
      clean,
    ),
  )
  if (zstd) {
    const archiveZst = join(work, 'src.tar.zst')
    sh(`tar --zstd -cf "${archiveZst}" -C "${big}" .`)
    rows.push(
      ...paired(
        `extract ${gib} GiB, zstd`,
        {
          tool: 'tar --zstd -xpf',
          argv: ['sh', '-c', `mkdir "${out('x')}" && tar --zstd -xpf "${archiveZst}" -C "${out('x')}"`],
        },
        bkRows(['extract', archiveZst, out('x')], 'every entry checked').filter((r) => r.tool !== 'bk, node engines'),
        clean,
      ),
    )
  }
  const archiveSmall = join(work, 'small.tar.gz')
  sh(`tar -czf "${archiveSmall}" -C "${small}" .`)
  rows.push(
    ...paired(
      `extract ${smallCount} files of 2 KB, gzip`,
      {tool: 'tar -xzpf', argv: ['sh', '-c', `mkdir "${out('x')}" && tar -xzpf "${archiveSmall}" -C "${out('x')}"`]},
      bkRows(['extract', archiveSmall, out('x')], 'every entry checked'),
      clean,
    ),
  )
  printTable('archive engine (paired rounds, medians)', rows)
  const worst = Math.max(...rows.filter((r) => r.tool.startsWith('bk')).map((r) => r.peakRssMB))
  console.log(`\nbk peak RSS ${worst.toFixed(0)} MB (bound: 200 MB) ${worst < 200 ? 'OK' : 'OVER'}`)
} finally {
  cleanup(work)
}
