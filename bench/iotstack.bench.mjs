// IOTstack: `bk iotstack backup` of a generated stack (1 GiB of volume data at BENCH_SCALE=1: half incompressible,
// half log text) beside IOTstack's own method (`tar -czf` of the same members, as backup.sh runs it) and
// `tar --zstd` (bk --zstd beside it); then `bk iotstack restore` beside `tar -xzpf` (paired rounds, medians).
// Wall time, peak RSS, archive size. BK_BEFORE=<another checkout, built> adds its bk to the backup cases.
import {readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, bk, cleanup, discard, measure, paired, printTable, repoRoot, scale, sh} from './lib.mjs'

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
  const tarZst = join(work, 'tar.tar.zst')
  const dated = join(stack, 'backups/backup')
  const cleanBackups = () => {
    rmSync(join(stack, 'backups'), {recursive: true, force: true})
    rmSync(tarGz, {force: true})
    rmSync(tarZst, {force: true})
  }
  // BK_BEFORE=<another checkout, built> adds its bk as a "bk before" row to each backup case (paired rounds)
  const before = process.env.BK_BEFORE
  const withBefore = (row) => {
    if (!before) return [row]
    const argv = [process.execPath, join(before, 'apps/bk/bin/run.js'), ...row.argv.slice(2)]
    return [row, {...row, tool: `${row.tool} (before)`, argv}]
  }
  rows.push(
    ...paired(
      'backup, gzip',
      {tool: 'tar -czf (IOTstack backup.sh)', argv: ['tar', '-czf', tarGz, '-T', list], options: {cwd: stack}},
      withBefore({
        tool: 'bk iotstack backup --type dated',
        argv: bk('iotstack', 'backup', stack, '--type', 'dated', '-q'),
        note: 'with its sidecar manifest',
      }),
      cleanBackups,
    ),
  )
  rows.push(
    ...paired(
      'backup, zstd',
      {tool: 'tar --zstd', argv: ['tar', '--zstd', '-cf', tarZst, '-T', list], options: {cwd: stack}},
      withBefore({
        tool: 'bk iotstack backup --zstd',
        argv: bk('iotstack', 'backup', stack, '--type', 'dated', '--zstd', '-q'),
        note: 'with its sidecar manifest',
      }),
      cleanBackups,
    ),
  )
  cleanBackups()
  sh(`tar -czf "${tarGz}" -T "${list}"`, {cwd: stack})
  const ours = measure(bk('iotstack', 'backup', stack, '--type', 'dated', '-q'))
  const archive = join(
    dated,
    readdirSync(dated).find((n) => n.endsWith('.tar.gz')),
  )
  const both = measure(bk('iotstack', 'backup', stack, '--type', 'both', '-q'))
  rows.push({
    case: 'backup',
    tool: 'bk iotstack backup (both)',
    ...both,
    ratio: both.seconds / ours.seconds,
    note: `dated + rolling copy; ratio vs one dated backup; ${mb(archive)} vs ${mb(tarGz)} (tar -czf)`,
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
          note: 'one pass: every check on the way into the extract folder, then swap (fresh folder: no safety copy)',
        },
      ],
      () => {
        discard(untarDir, restoredDir)
      },
    ),
  )
  printTable(`IOTstack stack with ${(volumeBytes / 2 ** 30).toFixed(2)} GiB of volume data (${made.files} files)`, rows)
  const worst = Math.max(...rows.filter((r) => r.tool.startsWith('bk')).map((r) => r.peakRssMB))
  console.log(`\nbk peak RSS ${worst.toFixed(0)} MB`)
} finally {
  cleanup(work)
}
