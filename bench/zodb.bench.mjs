// ZODB: bk zodb backups of a generated FileStorage (1 GiB at BENCH_SCALE=1, + a 10 MiB delta) and 20k blobs,
// beside cp, gzip -c and rsync -a [--link-dest] on the same data. Wall time and peak RSS of each.
// The incremental case is the point: its cost should follow the delta, not Data.fs.
import {randomBytes} from 'node:crypto'
import {mkdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, bk, cleanup, measure, printTable, repoRoot, scale, sh} from './lib.mjs'

const {SyntheticStorage} = await import(join(repoRoot, 'packages/plugin-zodb/dist/synthetic-storage.js'))

const dataBytes = Math.round(1024 * 1024 * 1024 * scale)
const deltaBytes = Math.max(1024 * 1024, Math.round(10 * 1024 * 1024 * scale))
const blobCount = Math.max(200, Math.round(20000 * scale))
const RECORD = 6 * 1024
const OBJECTS = 100_000
const text = Buffer.from('persistent.mapping PersistentMapping Products.CMFPlone title description '.repeat(200))

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
  const fsOnly = ['--datafs', datafs, '--no-backup-blobs', '-q', '--keep', '0']
  const rows = []

  // full backups
  const cp = measure(['cp', datafs, join(work, 'copy.fs')])
  rows.push({case: 'full, plain', tool: 'cp', ...cp, ratio: 1})
  const full = measure(bk('zodb', 'fullbackup', ...fsOnly, '--no-gzip', '--location', join(work, 'plain')))
  rows.push({case: 'full, plain', tool: 'bk zodb fullbackup --no-gzip', ...full, ratio: full.seconds / cp.seconds})
  const gz = measure(`gzip -c '${datafs}' > '${join(work, 'copy.fs.gz')}'`, {shell: true})
  rows.push({case: 'full, gzip', tool: 'gzip -c', ...gz, ratio: 1})
  const fullGz = measure(bk('zodb', 'fullbackup', ...fsOnly, '--location', join(work, 'gz')))
  rows.push({case: 'full, gzip', tool: 'bk zodb fullbackup', ...fullGz, ratio: fullGz.seconds / gz.seconds})

  // + delta: incremental against both repositories
  grow(db, deltaBytes)
  sh('sync')
  const cp2 = measure(['cp', datafs, join(work, 'copy2.fs')])
  rows.push({
    case: `incremental (+${(deltaBytes / 2 ** 20).toFixed(0)} MiB)`,
    tool: 'cp (whole file)',
    ...cp2,
    ratio: 1,
  })
  const md5pass = measure(['md5sum', datafs])
  rows.push({
    case: `incremental (+${(deltaBytes / 2 ** 20).toFixed(0)} MiB)`,
    tool: "md5sum Data.fs (1 of repozo's ~3 passes)",
    ...md5pass,
    ratio: md5pass.seconds / cp2.seconds,
  })
  const inc = measure(bk('zodb', 'backup', ...fsOnly, '--no-gzip', '--location', join(work, 'plain')))
  rows.push({
    case: `incremental (+${(deltaBytes / 2 ** 20).toFixed(0)} MiB)`,
    tool: 'bk zodb backup --no-gzip',
    ...inc,
    ratio: inc.seconds / cp2.seconds,
  })
  const incGz = measure(bk('zodb', 'backup', ...fsOnly, '--location', join(work, 'gz')))
  rows.push({
    case: `incremental (+${(deltaBytes / 2 ** 20).toFixed(0)} MiB)`,
    tool: 'bk zodb backup (gzip)',
    ...incGz,
    ratio: incGz.seconds / cp2.seconds,
  })
  const none = measure(bk('zodb', 'backup', ...fsOnly, '--location', join(work, 'gz')))
  rows.push({case: 'no change', tool: 'bk zodb backup (gzip)', ...none, ratio: none.seconds / cp2.seconds})

  // restore of the gzip chain (full + delta), verified
  const rcp = measure(`gunzip -c '${join(work, 'copy.fs.gz')}' > '${join(work, 'gunzipped.fs')}'`, {shell: true})
  rows.push({case: 'restore (gzip chain)', tool: 'gunzip -c (full only)', ...rcp, ratio: 1})
  const rest = measure(
    bk('zodb', 'restore', '--datafs', datafs, '--no-backup-blobs', '-q', '--location', join(work, 'gz'), '-y'),
  )
  rows.push({case: 'restore (gzip chain)', tool: 'bk zodb restore', ...rest, ratio: rest.seconds / rcp.seconds})

  // blobs: first copy, then an unchanged second backup (hard links)
  const blobFlags = ['--datafs', datafs, '--only-blobs', '--blob-storage', blobs, '-q', '--keep', '0']
  const rs1 = measure(['rsync', '-a', `${blobs}`, join(work, 'rsync.1')])
  rows.push({case: `blobs ${blobCount}, first`, tool: 'rsync -a', ...rs1, ratio: 1})
  const b1 = measure(bk('zodb', 'backup', ...blobFlags, '--blob-backup-location', join(work, 'blobbackups')))
  rows.push({
    case: `blobs ${blobCount}, first`,
    tool: 'bk zodb backup --only-blobs',
    ...b1,
    ratio: b1.seconds / rs1.seconds,
  })
  const rs2 = measure(['rsync', '-a', `--link-dest=${join(work, 'rsync.1')}`, `${blobs}`, join(work, 'rsync.2')])
  rows.push({case: `blobs ${blobCount}, unchanged`, tool: 'rsync -a --link-dest', ...rs2, ratio: 1})
  sh('sleep 1')
  const b2 = measure(bk('zodb', 'backup', ...blobFlags, '--blob-backup-location', join(work, 'blobbackups')))
  rows.push({
    case: `blobs ${blobCount}, unchanged`,
    tool: 'bk zodb backup --only-blobs (hard links)',
    ...b2,
    ratio: b2.seconds / rs2.seconds,
  })

  printTable(
    `ZODB: Data.fs ${(size / 2 ** 30).toFixed(2)} GiB, delta ${(deltaBytes / 2 ** 20).toFixed(0)} MiB, ${blobCount} blobs`,
    rows,
  )
} finally {
  cleanup(work)
}
