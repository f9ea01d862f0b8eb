// ZODB: bk zodb backups of a generated FileStorage (1 GiB at BENCH_SCALE=1, + a 10 MiB delta) and 20k blobs, in
// paired rounds against the tool each replaces: repozo -B -F (full), repozo -B (incremental; -B -Q beside it),
// repozo -R (restore of full + incremental), rsync -a [--link-dest] (blobs).
//   BK_BENCH_REPOZO  the command that runs repozo (split on spaces; e.g. "python3 -m ZODB.scripts.repozo", with
//                    PYTHONPATH set for it). Unset: cp / cp / cat stand in for repozo, and the table says so.
//   BK_BENCH_BEFORE  the root of another built bk checkout: adds a "bk before" row to every case.
// Each tool works on its own repository; before each timed run the repository is reset to the same state (the
// full backup of the base Data.fs, for the incremental case). The incremental case is the point: its cost should
// follow the delta, not Data.fs. With repozo, the restores of each other's repositories are checked byte for byte.
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, cleanup, discard, measure, paired, printTable, repoRoot, scale, sh} from './lib.mjs'

const {SyntheticStorage} = await import(join(repoRoot, 'packages/plugin-zodb/dist/synthetic-storage.js'))

const dataBytes = Math.round(1024 * 1024 * 1024 * scale)
const deltaBytes = Math.max(1024 * 1024, Math.round(10 * 1024 * 1024 * scale))
const blobCount = Math.max(200, Math.round(20000 * scale))
const RECORD = 6 * 1024
const OBJECTS = 100_000
const text = Buffer.from('persistent.mapping PersistentMapping Products.CMFPlone title description '.repeat(200))
const repozo = process.env.BK_BENCH_REPOZO?.split(' ').filter(Boolean)
const beforeRoot = process.env.BK_BENCH_BEFORE

/** ~1/3 random, 2/3 text-like pickles: compresses roughly like real ZODB data. */
function pickle() {
  return Buffer.concat([randomBytes(RECORD / 3), text.subarray(0, RECORD - RECORD / 3)])
}

let oid = 0
function grow(db, bytes) {
  const target = db.size + bytes
  while (db.size < target) {
    const oids = Array.from({length: 10}, () => oid++ % OBJECTS)
    db.commit({oids, size: RECORD, data: pickle()})
  }
}

function makeBlobs(dir, n) {
  mkdirSync(dir)
  writeFileSync(join(dir, '.layout'), 'bushy')
  mkdirSync(join(dir, 'tmp'))
  for (let i = 0; i < n; i++) {
    const hex = i.toString(16).padStart(4, '0')
    const d = join(dir, '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', `0x${hex.slice(0, 2)}`, `0x${hex.slice(2)}`)
    mkdirSync(d, {recursive: true})
    writeFileSync(join(d, '0x03e8a1b2c3d4e5f6.blob'), randomBytes(4096), {mode: 0o444})
  }
}

/** bk of this checkout, and of BK_BENCH_BEFORE's when set: [{key, tool, argv(...args)}]. */
const bks = [{key: 'bk', tool: 'bk', argv: (...a) => [process.execPath, join(repoRoot, 'apps/bk/bin/run.js'), ...a]}]
if (beforeRoot) {
  // its own data dir: plugins resolve from the data dir's checkout, so the default one would load this checkout's
  bks.push({
    key: 'before',
    tool: 'bk before',
    argv: (...a) => [process.execPath, join(beforeRoot, 'apps/bk/bin/run.js'), ...a],
    options: {env: {BK_DATA_DIR: join(beforeRoot, '.bk-dev')}},
  })
}

const work = benchDir('zodb')
try {
  const fsDir = join(work, 'var', 'filestorage')
  mkdirSync(fsDir, {recursive: true})
  const datafs = join(fsDir, 'Data.fs')
  const db = SyntheticStorage.open(datafs)
  grow(db, dataBytes)
  const blobs = join(work, 'var', 'blobstorage')
  makeBlobs(blobs, blobCount)
  sh('sync')
  const size = statSync(datafs).size
  const out = (name) => join(work, name)
  const reset = (...names) => {
    discard(...names.map(out))
  }
  const fsOnly = ['--datafs', datafs, '--no-backup-blobs', '-q', '--keep', '0', '--no-gzip']
  const runRepozo = (...a) => [...repozo, ...a]
  const rows = []
  const anchorNote = repozo ? '' : ' (BK_BENCH_REPOZO unset: stand-in)'

  // --- full backup ---
  const fullAnchor = repozo
    ? {tool: 'repozo -B -F', argv: runRepozo('-B', '-F', '-r', out('rz-full'), '-f', datafs)}
    : {tool: `cp Data.fs${anchorNote}`, argv: ['cp', datafs, out('rz-full')]}
  rows.push(
    ...paired(
      'full backup',
      fullAnchor,
      bks.map((b) => ({
        tool: `${b.tool} zodb fullbackup --no-gzip`,
        argv: b.argv('zodb', 'fullbackup', ...fsOnly, '--location', out(`${b.key}-full`)),
        options: b.options,
      })),
      () => {
        reset('rz-full', ...bks.map((b) => `${b.key}-full`))
        if (repozo) mkdirSync(out('rz-full'))
      },
    ),
  )

  // --- incremental: each tool's repository holds the full backup of the base Data.fs, then Data.fs grows ---
  const tools = [...bks.map((b) => b.key), ...(repozo ? ['rz'] : [])]
  const fullOf = {rz: () => runRepozo('-B', '-F', '-r', out('rz-base'), '-f', datafs)}
  const optionsOf = {}
  for (const b of bks) {
    fullOf[b.key] = () => b.argv('zodb', 'fullbackup', ...fsOnly, '--location', out(`${b.key}-base`))
    optionsOf[b.key] = b.options
  }
  for (const t of tools) {
    mkdirSync(out(`${t}-base`))
    measure(fullOf[t](), optionsOf[t])
  }
  grow(db, deltaBytes)
  sh('sync')
  sh('sleep 1') // a backup in the same second as the full would wait for the next one
  // the repository as after the full backup: hard links, but the .dat (repozo appends to it) copied
  const resetRepo = (t) => {
    reset(`${t}-inc`)
    sh(`cp -al '${out(`${t}-base`)}' '${out(`${t}-inc`)}'`)
    for (const name of readdirSync(out(`${t}-inc`)).filter((n) => n.endsWith('.dat'))) {
      sh(`cp --remove-destination '${out(`${t}-base`)}/${name}' '${out(`${t}-inc`)}/${name}'`)
    }
  }
  const incLabel = `incremental (+${(deltaBytes / 2 ** 20).toFixed(0)} MiB)`
  const incOf = {rz: (quick) => runRepozo('-B', ...(quick ? ['-Q'] : []), '-r', out('rz-inc'), '-f', datafs)}
  const incAnchor = repozo
    ? {tool: 'repozo -B', argv: incOf.rz(false)}
    : {tool: `cp Data.fs (whole file)${anchorNote}`, argv: ['cp', datafs, out('rz-inc')]}
  const bkInc = bks.map((b) => ({
    tool: `${b.tool} zodb backup --no-gzip`,
    argv: b.argv('zodb', 'backup', ...fsOnly, '--location', out(`${b.key}-inc`)),
    options: b.options,
  }))
  const resetAll = () => {
    if (repozo) resetRepo('rz')
    else reset('rz-inc')
    for (const b of bks) resetRepo(b.key)
  }
  rows.push(...paired(incLabel, incAnchor, bkInc, resetAll))
  if (repozo) {
    rows.push(...paired(`${incLabel}, quick`, {tool: 'repozo -B -Q', argv: incOf.rz(true)}, bkInc, resetAll))
  }

  // --- restore of full + incremental ---
  resetAll()
  if (repozo) measure(incOf.rz(false))
  for (const b of bkInc) measure(b.argv, b.options)
  const restoreAnchor = repozo
    ? {tool: 'repozo -R', argv: runRepozo('-R', '-r', out('rz-inc'), '-o', out('rz-restored.fs'))}
    : {
        tool: `cat full delta > Data.fs${anchorNote}`,
        argv: `cat ${readdirSync(out('bk-inc'))
          .filter((n) => /\.(delta)?fs$/.test(n))
          .sort()
          .map((n) => `'${out('bk-inc')}/${n}'`)
          .join(' ')} > '${out('rz-restored.fs')}'`,
        options: {shell: true},
      }
  const bkRestore = bks.map((b) => ({
    tool: `${b.tool} zodb restore`,
    argv: b.argv(
      'zodb',
      'restore',
      '--datafs',
      join(out(`${b.key}-restored`), 'Data.fs'),
      '--no-backup-blobs',
      '-q',
      '--location',
      out(`${b.key}-inc`),
      '-y',
    ),
    options: b.options,
  }))
  const resetRestored = () => reset('rz-restored.fs', ...bks.map((b) => `${b.key}-restored`))
  rows.push(...paired('restore (full + incremental)', restoreAnchor, bkRestore, resetRestored))
  // the last round's prepare removed the other tools' outputs: run them once more, untimed, to check them
  resetRestored()
  measure(restoreAnchor.argv, restoreAnchor.options)
  measure(bkRestore[0].argv)
  sh(`cmp '${datafs}' '${join(out('bk-restored'), 'Data.fs')}'`)
  if (repozo) {
    // each restores the other's repository to the same bytes
    sh(`cmp '${datafs}' '${out('rz-restored.fs')}'`)
    measure(runRepozo('-R', '-r', out('bk-inc'), '-o', out('cross.fs')))
    sh(`cmp '${datafs}' '${out('cross.fs')}'`)
    reset('cross')
    measure(
      bks[0].argv(
        'zodb',
        'restore',
        '--datafs',
        join(out('cross'), 'Data.fs'),
        '--no-backup-blobs',
        '-q',
        '--location',
        out('rz-inc'),
        '-y',
      ),
    )
    sh(`cmp '${datafs}' '${join(out('cross'), 'Data.fs')}'`)
  }

  // --- blobs: first copy, then an unchanged second backup (hard links) ---
  const blobFlags = ['--datafs', datafs, '--only-blobs', '--blob-storage', blobs, '-q', '--keep', '0']
  rows.push(
    ...paired(
      `blobs ${blobCount}, first`,
      {tool: 'rsync -a', argv: ['rsync', '-a', blobs, out('rsync.1')]},
      bks.map((b) => ({
        tool: `${b.tool} zodb backup --only-blobs`,
        argv: b.argv('zodb', 'backup', ...blobFlags, '--blob-backup-location', out(`${b.key}-blobs`)),
        options: b.options,
      })),
      () => reset('rsync.1', ...bks.map((b) => `${b.key}-blobs`)),
    ),
  )
  // one kept first backup per tool, then each round adds (and the next round removes) the second
  const firsts = new Map()
  for (const b of bks) {
    reset(`${b.key}-blobs`)
    measure(b.argv('zodb', 'backup', ...blobFlags, '--blob-backup-location', out(`${b.key}-blobs`)), b.options)
    firsts.set(b.key, new Set(readdirSync(out(`${b.key}-blobs`))))
  }
  reset('rsync.1')
  sh(`rsync -a '${blobs}' '${out('rsync.1')}'`)
  sh('sleep 1')
  rows.push(
    ...paired(
      `blobs ${blobCount}, unchanged`,
      {
        tool: 'rsync -a --link-dest',
        argv: ['rsync', '-a', `--link-dest=${out('rsync.1')}`, blobs, out('rsync.2')],
      },
      bks.map((b) => ({
        tool: `${b.tool} zodb backup --only-blobs (hard links)`,
        argv: b.argv('zodb', 'backup', ...blobFlags, '--blob-backup-location', out(`${b.key}-blobs`)),
        options: b.options,
      })),
      () => {
        reset('rsync.2')
        for (const b of bks) {
          const dir = out(`${b.key}-blobs`)
          for (const n of readdirSync(dir)) if (!firsts.get(b.key).has(n)) rmSync(join(dir, n), {recursive: true})
        }
      },
    ),
  )

  printTable(
    `ZODB: Data.fs ${(size / 2 ** 30).toFixed(2)} GiB, delta ${(deltaBytes / 2 ** 20).toFixed(0)} MiB, ${blobCount} blobs${repozo ? '' : '; BK_BENCH_REPOZO unset: repozo rows are stand-ins'}`,
    rows,
  )
} finally {
  cleanup(work)
}
