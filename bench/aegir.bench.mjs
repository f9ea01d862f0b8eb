// Aegir: bk aegir backup and restore of a generated Drupal 7 site (≥ 1 GB of files and a ≥ 200 MB MariaDB
// database at BENCH_SCALE=1) beside the baseline `mysqldump | gzip` + `tar -czf` (backup) and `tar -xzf` +
// `gunzip | mysql` (restore) on the same data. Wall time and peak RSS of each. bk's restore includes what the
// baseline does not: the archive check, the kept pre-restore backup, a new database and user, the swap.
// Needs MariaDB at 127.0.0.1:3306 (root, no password).
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {benchDir, bk, cleanup, measure, printTable, scale, sh} from './lib.mjs'

const filesTarget = Math.round(1024 * 1024 * 1024 * scale)
const dbTarget = Math.round(200 * 1024 * 1024 * scale)
const fileBytes = 8 * 1024 * 1024
const rowBytes = 2048
const rows = Math.max(1000, Math.ceil(dbTarget / rowBytes))

function mysql(sql, database) {
  const args = ['-uroot', '-h127.0.0.1', '--default-character-set=utf8mb4', '--batch', '--skip-column-names']
  if (database) args.push(database)
  const r = spawnSync('mysql', args, {input: sql, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`bench: mysql failed: ${r.stderr}`)
  return r.stdout
}

const tag = randomBytes(3).toString('hex')
const database = `bkbench_${tag}`
const user = `bkbench_${tag}`
const password = randomBytes(9).toString('base64url')
const uri = `bench${tag}.example.com`
const work = benchDir('aegir')
const toDrop = [database]
try {
  const platform = join(work, 'platforms/drupal-7')
  const site = join(platform, 'sites', uri)
  const location = join(work, 'backups')
  mkdirSync(join(platform, 'sites/all'), {recursive: true})
  for (const dir of [
    'files/pictures',
    'files/styles',
    'private/files',
    'private/temp',
    'modules',
    'themes',
    'libraries',
  ]) {
    mkdirSync(join(site, dir), {recursive: true})
  }
  const started = Date.now()
  // files: incompressible 8 MB pictures (what user uploads mostly are) plus some compressible text
  const pictures = Math.max(2, Math.ceil((filesTarget * 0.9) / fileBytes))
  sh(
    `for i in $(seq 1 ${pictures}); do head -c ${fileBytes} /dev/urandom > ${JSON.stringify(join(site, 'files/pictures'))}/p$i.jpg; done`,
  )
  const textFiles = Math.max(1, Math.ceil((filesTarget * 0.1) / fileBytes))
  sh(
    `for i in $(seq 1 ${textFiles}); do yes "sites/${uri}/files/report line $i" | head -c ${fileBytes} > ${JSON.stringify(join(site, 'private/files'))}/r$i.txt; done`,
  )
  writeFileSync(
    join(site, 'settings.php'),
    `<?php
  $databases['default']['default'] = array(
    'driver' => "mysql",
    'database' => "${database}",
    'username' => "${user}",
    'password' => "${password}",
    'host' => "127.0.0.1",
    'port' => "3306",
   );
  $db_url['default'] = "mysql://${user}:${password}@127.0.0.1:3306/${database}";
  $conf['file_public_path'] = 'sites/${uri}/files';
  $drupal_hash_salt = '';
`,
    {mode: 0o440},
  )
  writeFileSync(
    join(site, 'drushrc.php'),
    `<?php\n$options['db_type'] = 'mysql';\n$options['db_host'] = '127.0.0.1';\n$options['db_port'] = '3306';\n$options['db_passwd'] = '${password}';\n$options['db_name'] = '${database}';\n$options['db_user'] = '${user}';\n$options['uri'] = '${uri}';\n`,
  )
  mysql(
    `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4; CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON \`${database}\`.* TO '${user}'@'%';`,
  )
  mysql(
    `CREATE TABLE variable (name varchar(128) PRIMARY KEY, value longblob NOT NULL);
     INSERT INTO variable VALUES ('file_public_path', 's:${`sites/${uri}/files`.length}:"sites/${uri}/files";'), ('maintenance_mode', 'i:0;');
     CREATE TABLE cache_bootstrap (cid varchar(255) PRIMARY KEY, data longblob);
     CREATE TABLE node (nid int unsigned PRIMARY KEY, title varchar(255) NOT NULL, body longtext) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
     INSERT INTO node SELECT seq, CONCAT('Article ', seq, ' 🚀 café'), CONCAT(REPEAT(MD5(seq), ${rowBytes / 32 - 1}), SHA1(seq)) FROM seq_1_to_${rows};`,
    database,
  )
  mysql('ANALYZE TABLE node', database)
  sh('sync')
  const dbMB = Number(
    mysql(
      `SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables WHERE table_schema = '${database}'`,
    ).trim(),
  )
  const filesMB = Number(sh(`du -sm ${JSON.stringify(site)} | cut -f1`).trim())
  console.log(
    `generated a Drupal site in ${((Date.now() - started) / 1000).toFixed(0)} s: ${filesMB} MB of files, database ${dbMB} MB (${rows} nodes)`,
  )

  // --- backup ---
  const baseDir = join(work, 'baseline')
  mkdirSync(baseDir)
  const baseDump = join(baseDir, 'database.sql.gz')
  const baseTar = join(baseDir, 'site.tar.gz')
  const baseBackup = measure(
    `mysqldump -uroot -h127.0.0.1 --single-transaction --quick ${database} | gzip > ${JSON.stringify(baseDump)} && tar -czf ${JSON.stringify(baseTar)} -C ${JSON.stringify(site)} .`,
    {shell: true},
  )
  sh('sync')
  const ours = measure(bk('aegir', 'backup', site, '--location', location, '-q'))
  const backupFile = join(
    location,
    readdirSync(location).find((n) => n.endsWith('.tar.gz')),
  )
  const ourSize = statSync(backupFile).size / 2 ** 20
  const baseSize = (statSync(baseDump).size + statSync(baseTar).size) / 2 ** 20
  sh('sync')

  // --- restore ---
  const restoreDb = `${database}_r`
  toDrop.push(restoreDb)
  const baseTarget = join(work, 'baseline-restore')
  const baseRestore = measure(
    `mkdir ${JSON.stringify(baseTarget)} && tar -xzpf ${JSON.stringify(baseTar)} -C ${JSON.stringify(baseTarget)} && mysql -uroot -h127.0.0.1 -e 'CREATE DATABASE \`${restoreDb}\`' && gunzip -c ${JSON.stringify(baseDump)} | mysql -uroot -h127.0.0.1 ${restoreDb}`,
    {shell: true},
  )
  cleanup(baseTarget)
  cleanup(baseDir)
  sh('sync')
  const restore = measure(bk('aegir', 'restore', site, backupFile, '--location', location, '--yes', '--json'), {
    env: {BK_DB_ADMIN_PASSWORD: ''},
  })
  const restored = JSON.parse(restore.stdout)
  toDrop.push(restored.database.new)
  const restoredRows = Number(mysql('SELECT COUNT(*) FROM node', restored.database.new).trim())
  if (restoredRows !== rows) throw new Error(`bench: restored ${restoredRows} nodes, expected ${rows}`)

  printTable(`Aegir site: ${filesMB} MB of files + ${dbMB} MB MariaDB database`, [
    {
      case: 'backup',
      tool: 'mysqldump + gzip, tar -czf',
      ...baseBackup,
      ratio: 1,
      note: `${baseSize.toFixed(0)} MB written`,
    },
    {
      case: 'backup',
      tool: 'bk aegir backup',
      ...ours,
      ratio: ours.seconds / baseBackup.seconds,
      note: `${ourSize.toFixed(0)} MB provision tarball (0600) + sidecar`,
    },
    {case: 'restore', tool: 'tar -xzf, gunzip + mysql', ...baseRestore, ratio: 1},
    {
      case: 'restore',
      tool: 'bk aegir restore',
      ...restore,
      ratio: restore.seconds / baseRestore.seconds,
      note: `${restoredRows} nodes checked; steps: ${restored.timings.map((t) => `${t.step} ${t.seconds.toFixed(1)} s`).join(', ')}`,
    },
  ])
  mysql(`DROP USER IF EXISTS '${restored.database.user}'@'%'`)
} finally {
  mysql(`${toDrop.map((d) => `DROP DATABASE IF EXISTS \`${d}\`;`).join(' ')} DROP USER IF EXISTS '${user}'@'%';`)
  cleanup(work)
}
