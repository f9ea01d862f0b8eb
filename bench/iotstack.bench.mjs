// IOTstack: `bk iotstack backup` of a generated stack (1 GiB of volume data at BENCH_SCALE=1: half incompressible,
// half log text) beside IOTstack's own method (`tar -czf` of the same members, as backup.sh runs it) and
// `tar --zstd` (bk --zstd beside it); then `bk iotstack restore` beside `tar -xzpf` (paired rounds, medians).
// Wall time, peak RSS, archive size.
import {readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, bk, cleanup, measure, paired, printTable, repoRoot, scale, sh} from './lib.mjs'

const {makeExampleStack, STACK_MEMBERS} = await import(join(repoRoot, 'packages/plugin-iotstack/dist/index.js'))
const volumeBytes = Math.round(1024 * 1024 * 1024 * scale)
const mb = (file) => `${(statSync(file).size / 2 ** 20).toFixed(0)} MiB archive`

const work = benchDir('iotstack')
try {
  const stack = join(work, 'IOTstack')
  const made = await makeExampleStack(stack, {volumeBytes})
  const members = STACK_MEMBERS.filter((m) => readdirSync(stack).includes(m))
  // IOTstack's backup.sh: tar -czf <file> -T <list of ./members>.
  const list = join(work, 'backup-list.txt')
  writeFileSync(list, `${members.map((m) => `./${m}`).join('\n')}\n`)
  sh('sync')

  const rows = []
  const tarGz = join(work, 'tar.tar.gz')
  const base = measure(['tar', '-czf', tarGz, '-T', list], {cwd: stack})
  rows.push({case: 'backup', tool: 'tar -czf (IOTstack backup.sh)', ...base, ratio: 1, note: mb(tarGz)})
  const tarZst = join(work, 'tar.tar.zst')
  const zst = measure(['tar', '--zstd', '-cf', tarZst, '-T', list], {cwd: stack})
  rows.push({case: 'backup', tool: 'tar --zstd', ...zst, ratio: zst.seconds / base.seconds, note: mb(tarZst)})
  const ours = measure(bk('iotstack', 'backup', stack, '--type', 'dated', '-q'))
  const dated = join(stack, 'backups/backup')
  const archive = join(
    dated,
    readdirSync(dated).find((n) => n.endsWith('.tar.gz')),
  )
  rows.push({
    case: 'backup',
    tool: 'bk iotstack backup --type dated',
    ...ours,
    ratio: ours.seconds / base.seconds,
    note: `${mb(archive)}; includes the sidecar manifest (members re-read and hashed)`,
  })
  const zstdRun = measure(bk('iotstack', 'backup', stack, '--type', 'dated', '--zstd', '-q'))
  const zstdFile = join(
    dated,
    readdirSync(dated).find((n) => n.endsWith('.tar.zst')),
  )
  rows.push({
    case: 'backup',
    tool: 'bk iotstack backup --zstd',
    ...zstdRun,
    ratio: zstdRun.seconds / zst.seconds,
    note: `${mb(zstdFile)}; ratio vs tar --zstd`,
  })
  const both = measure(bk('iotstack', 'backup', stack, '--type', 'both', '-q'))
  rows.push({
    case: 'backup',
    tool: 'bk iotstack backup (both)',
    ...both,
    ratio: both.seconds / base.seconds,
    note: 'dated + rolling copy',
  })

  // restore: paired rounds (BENCH_ROUNDS), each into a fresh folder
  const untarDir = join(work, 'untar')
  const restoredDir = join(work, 'restored')
  rows.push(
    ...paired(
      'restore',
      {
        tool: 'tar -xzpf (IOTstack restore.sh)',
        argv: ['sh', '-c', `mkdir "${untarDir}" && tar -xzpf "${tarGz}" --numeric-owner -C "${untarDir}"`],
        note: 'no check, no safety copy',
      },
      [
        {
          tool: 'bk iotstack restore',
          argv: bk('iotstack', 'restore', archive, restoredDir, '--yes', '-q'),
          note: 'full check pass, then extract + swap (fresh folder: no safety copy)',
        },
      ],
      () => {
        rmSync(untarDir, {recursive: true, force: true})
        rmSync(restoredDir, {recursive: true, force: true})
      },
    ),
  )
  printTable(`IOTstack stack with ${(volumeBytes / 2 ** 30).toFixed(2)} GiB of volume data (${made.files} files)`, rows)
  const worst = Math.max(...rows.filter((r) => r.tool.startsWith('bk')).map((r) => r.peakRssMB))
  console.log(`\nbk peak RSS ${worst.toFixed(0)} MB`)
} finally {
  cleanup(work)
}
