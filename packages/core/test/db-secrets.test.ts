import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import {join} from 'node:path'
import {
  createTestDatabase,
  createTestUser,
  dropTestLeftovers,
  requireServer,
  type TestDatabase,
  type TestUser,
  tempDir,
} from '@bkcli/testkit'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type DbTarget, dbClient, dumpDatabase, loadDump, parseDbUrl} from '../src/db/index.js'

afterAll(dropTestLeftovers)

// Quotes, '#', backslash, spaces, '@', ':' — everything an options file or a URL could mangle.
const PASSWORD = 'p@ss w0rd"#\\:x\'y'

interface Observation {
  cmdlines: string[]
  environs: string[]
  fd3: string[]
  optionFiles: {path: string; mode: number}[]
}

/** Watch a spawned client: its argv, env and fd 3, read from /proc as quickly as possible while it runs. */
function watcher(): {onSpawn: (pid: number) => void; seen: Observation; stop: () => void} {
  const seen: Observation = {cmdlines: [], environs: [], fd3: [], optionFiles: []}
  const timers: NodeJS.Timeout[] = []
  const look = (pid: number) => {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (!cmdline) return
      seen.cmdlines.push(cmdline.split('\0').join(' '))
      seen.environs.push(readFileSync(`/proc/${pid}/environ`, 'utf8'))
      try {
        seen.fd3.push(readlinkSync(`/proc/${pid}/fd/3`))
      } catch {}
      const file = /--defaults-file=(\/\S+)/.exec(cmdline.split('\0').join(' '))?.[1]
      if (file && !file.startsWith('/dev/fd/') && existsSync(file)) {
        seen.optionFiles.push({path: file, mode: statSync(file).mode & 0o777})
      }
    } catch {
      // the process has gone
    }
  }
  return {
    seen,
    onSpawn(pid) {
      look(pid)
      timers.push(setInterval(() => look(pid), 2))
    },
    stop() {
      for (const timer of timers) clearInterval(timer)
    },
  }
}

describe('secrets never reach argv', () => {
  let db: TestDatabase
  let user: TestUser

  beforeAll(async () => {
    await requireServer('mysql')
    db = await createTestDatabase('mysql')
    const admin = dbClient(db.target)
    // Big enough that the dump runs for a while and /proc can be read during it.
    await admin.query('CREATE TABLE big (id int PRIMARY KEY, v varchar(200))')
    await admin.query("INSERT INTO big SELECT seq, REPEAT('v', 150) FROM seq_1_to_200000")
    await admin.close()
    user = await createTestUser('mysql', {password: PASSWORD, grantOn: db.name})
  })

  const asUser = (): DbTarget => ({
    ...parseDbUrl(`mariadb://${user.name}@127.0.0.1:3306/${db.name}`),
    password: PASSWORD,
  })

  for (const channel of ['fd', 'file'] as const) {
    it(`mysqldump gets the password through an options file (${channel}), never argv or env`, async () => {
      const dir = tempDir()
      const file = join(dir, 'dump.sql')
      const watch = watcher()
      const tmpBefore = readdirSync('/tmp').filter((name) => name.startsWith('bk-my-'))
      try {
        await dumpDatabase(asUser(), file, {secretChannel: channel, onSpawn: watch.onSpawn})
      } finally {
        watch.stop()
      }
      // The dump really ran as that user with that password.
      expect(readFileSync(file, 'utf8')).toContain('INSERT INTO `big` VALUES')
      const {cmdlines, environs, fd3, optionFiles} = watch.seen
      expect(cmdlines.length).toBeGreaterThan(0)
      for (const cmdline of cmdlines) {
        expect(cmdline).toMatch(/mysqldump --defaults-file=/) // the first argument
        expect(cmdline).not.toContain(PASSWORD)
        expect(cmdline).not.toContain('w0rd')
      }
      for (const environ of environs) {
        expect(environ).not.toContain('w0rd')
        expect(environ).not.toMatch(/(^|\0)MYSQL_PWD=/)
      }
      if (channel === 'fd') {
        expect(cmdlines[0]).toContain('--defaults-file=/dev/fd/3')
        // fd 3 is an options file that was unlinked before the client started.
        expect(fd3.length).toBeGreaterThan(0)
        expect(fd3[0]).toMatch(/client\.cnf \(deleted\)$/)
      } else {
        expect(optionFiles.length).toBeGreaterThan(0)
        expect(optionFiles[0]!.mode).toBe(0o600)
        expect(existsSync(optionFiles[0]!.path)).toBe(false) // removed afterwards
      }
      const tmpAfter = readdirSync('/tmp').filter((name) => name.startsWith('bk-my-'))
      expect(tmpAfter.filter((name) => !tmpBefore.includes(name))).toEqual([])
    })
  }

  it('mysql (load) gets it the same way, also when it only comes from MYSQL_PWD', async () => {
    const dir = tempDir()
    const file = join(dir, 'small.sql')
    writeFileSync(file, 'CREATE TABLE loaded (a int);\nINSERT INTO loaded VALUES (42);\n')
    const watch = watcher()
    const saved = process.env.MYSQL_PWD
    process.env.MYSQL_PWD = PASSWORD
    try {
      await loadDump({...asUser(), password: undefined}, file, {onSpawn: watch.onSpawn})
    } finally {
      watch.stop()
      if (saved === undefined) delete process.env.MYSQL_PWD
      else process.env.MYSQL_PWD = saved
    }
    const admin = dbClient(db.target)
    expect(await admin.query('SELECT a FROM loaded')).toEqual([{a: 42}])
    await admin.close()
    for (const cmdline of watch.seen.cmdlines) expect(cmdline).not.toContain('w0rd')
    for (const environ of watch.seen.environs) expect(environ).not.toContain('w0rd')
  })

  it('pg_dump gets it in PGPASSWORD (its env), never argv', async () => {
    await requireServer('postgres')
    const pgDb = await createTestDatabase('postgres')
    const role = await createTestUser('postgres', {password: PASSWORD, grantOn: pgDb.name})
    const admin = dbClient(pgDb.target)
    await admin.query("CREATE TABLE big AS SELECT g AS id, repeat('v', 150) AS v FROM generate_series(1, 200000) g")
    await admin.query(`GRANT SELECT ON big TO "${role.name}"`)
    await admin.close()
    const watch = watcher()
    const file = join(tempDir(), 'pg.sql')
    try {
      const target = {...parseDbUrl(`postgres://${role.name}@127.0.0.1:5432/${pgDb.name}`), password: PASSWORD}
      await dumpDatabase(target, file, {onSpawn: watch.onSpawn})
    } finally {
      watch.stop()
    }
    expect(readFileSync(file, 'utf8')).toContain('COPY public.big')
    expect(watch.seen.cmdlines.length).toBeGreaterThan(0)
    for (const cmdline of watch.seen.cmdlines) {
      expect(cmdline).toMatch(/pg_dump .*-p 5432/)
      expect(cmdline).not.toContain('w0rd')
    }
    // (pg_hba here is trust on 127.0.0.1, so the server cannot refuse a password: show where it went.)
    expect(watch.seen.environs[0]).toContain(`\0PGPASSWORD=${PASSWORD}\0`)
  })
})

/**
 * How long one call of these tests may wait before it is taken for hung (a bound naming the call, not a speed
 * check: each fails in well under a second, and a loaded CI machine is given 20× more than its slowest run).
 */
const CALL_BOUND_MS = 20_000

describe('failures are one-line BkErrors and leave no file', () => {
  /** The error `promise` rejects with; fails naming `call` when it has not settled within {@link CALL_BOUND_MS}. */
  async function failure(promise: Promise<unknown>, call = 'the call'): Promise<Error & {code: string}> {
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`${call} still waits after ${CALL_BOUND_MS / 1000} s: hung (a client or socket left open?)`),
          ),
        CALL_BOUND_MS,
      )
    })
    const error = await Promise.race([
      promise.then(
        () => undefined,
        (e: unknown) => e,
      ),
      bound,
    ]).finally(() => clearTimeout(timer))
    expect(error, 'expected a failure').toBeDefined()
    expect((error as Error).name).toBe('BkError')
    expect((error as Error).message).not.toContain('\n')
    return error as Error & {code: string}
  }

  it('server down', async () => {
    const dir = tempDir()
    const maria = parseDbUrl('mariadb://root@127.0.0.1:1/nothing')
    const pg = parseDbUrl('postgres://root@127.0.0.1:1/nothing')
    const expected = {
      maria: 'cannot connect to MariaDB at 127.0.0.1:1 (connection refused); is the server running?',
      pg: 'cannot connect to PostgreSQL at 127.0.0.1:1 (connection refused); is the server running?',
    }
    expect((await failure(dbClient(maria).tableCounts(), 'MariaDB tableCounts()')).message).toBe(expected.maria)
    expect((await failure(dbClient(pg).serverVersion(), 'PostgreSQL serverVersion()')).message).toBe(expected.pg)
    expect((await failure(dumpDatabase(maria, join(dir, 'm.sql')), 'MariaDB dumpDatabase()')).message).toBe(
      expected.maria,
    )
    expect((await failure(dumpDatabase(pg, join(dir, 'p.sql')), 'PostgreSQL dumpDatabase()')).message).toBe(expected.pg)
    writeFileSync(join(dir, 'in.sql'), 'SELECT 1;\n')
    expect((await failure(loadDump(pg, join(dir, 'in.sql')), 'PostgreSQL loadDump()')).message).toBe(expected.pg)
    expect((await failure(loadDump(maria, join(dir, 'in.sql')), 'MariaDB loadDump()')).message).toBe(expected.maria)
    const sock = parseDbUrl('postgres://root@/nothing?host=/nonexistent-dir')
    expect((await failure(dbClient(sock).serverVersion(), 'PostgreSQL serverVersion() on a socket')).message).toMatch(
      /^cannot connect to PostgreSQL at \/nonexistent-dir\/\.s\.PGSQL\.5432 .*is the server running\?$/,
    )
    expect(readdirSync(dir)).toEqual(['in.sql'])
  })

  it('wrong password (MariaDB)', async () => {
    await requireServer('mysql')
    const db = await createTestDatabase('mysql')
    const user = await createTestUser('mysql', {password: 'the right one', grantOn: db.name})
    const dir = tempDir()
    const target = {...parseDbUrl(`mariadb://${user.name}@127.0.0.1:3306/${db.name}`), password: 'wrong'}
    const expected = new RegExp(
      `^MariaDB refused the password for user '${user.name}'@127\\.0\\.0\\.1 — check the password \\(.*BK_DB_PASSWORD.*--password-file\\)$`,
    )
    const viaDriver = await failure(dbClient(target).tableCounts())
    expect(viaDriver.message).toMatch(expected)
    expect(viaDriver.code).toBe('EDBAUTH')
    const viaDump = await failure(dumpDatabase(target, join(dir, 'x.sql')))
    expect(viaDump.message).toMatch(expected)
    expect(viaDump.message).not.toContain('wrong')
    // No password at all.
    const none = await failure(dumpDatabase({...target, password: undefined}, join(dir, 'x.sql')))
    expect(none.message).toMatch(/wants a password for user .* and none was given/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('server down while a big dump is being fed: the client error, whoever wins the race to close its stdin', async () => {
    const dir = tempDir()
    const dump = join(dir, 'big.sql')
    writeFileSync(dump, 'SELECT 1;\n'.repeat(100_000))
    const target = parseDbUrl('mysql://root@127.0.0.1:1/bkt_x')
    for (let i = 0; i < 20; i++) {
      expect((await failure(loadDump(target, dump), `loadDump() #${i + 1} of a big dump`)).message).toBe(
        'cannot connect to MySQL/MariaDB at 127.0.0.1:1 (connection refused); is the server running?',
      )
    }
  })

  it('missing database', async () => {
    const dir = tempDir()
    for (const url of [
      'postgres://root@127.0.0.1:5432/bkt_does_not_exist',
      'mysql://root@127.0.0.1:3306/bkt_does_not_exist',
    ]) {
      const target = parseDbUrl(url)
      const server = url.startsWith('postgres') ? 'PostgreSQL' : 'MySQL/MariaDB'
      const expected = `database 'bkt_does_not_exist' does not exist on ${server} at 127.0.0.1:${target.port} — check the name, or create it first`
      expect((await failure(dbClient(target).tableCounts())).message).toBe(expected)
      expect((await failure(dumpDatabase(target, join(dir, 'x.sql')))).message).toBe(expected)
      writeFileSync(join(dir, 'in.sql'), 'SELECT 1;\n')
      expect((await failure(loadDump(target, join(dir, 'in.sql')))).message).toBe(expected)
    }
    expect(readdirSync(dir)).toEqual(['in.sql'])
  })

  it('a client that exits before the end of its input reaches it: its own error, never a hang', async () => {
    // The race behind a load that hung: the client (here a stand-in psql that reads one byte and fails) exits and
    // Node destroys its stdin, then the dump's last bytes arrive and the feed ends that stdin. A FIFO held open by
    // the test orders the two: the end of input comes only once the client's exit has been handled.
    const dir = tempDir()
    const fake = join(dir, 'psql')
    writeFileSync(fake, '#!/bin/sh\nhead -c 1 >/dev/null\necho "psql: error: stand-in gone" >&2\nexit 2\n')
    chmodSync(fake, 0o755)
    const fifo = join(dir, 'dump.sql')
    execFileSync('mkfifo', [fifo])
    const writer = openSync(fifo, 'r+') // read-write: opening never blocks, and it keeps the pipe's writer side
    writeSync(writer, 'SELECT 1;\n')
    let pid: number | undefined
    const loading = failure(
      loadDump(parseDbUrl('postgres://root@127.0.0.1:5432/postgres'), fifo, {
        clientPath: fake,
        onSpawn: (p) => {
          pid = p
        },
      }),
      'loadDump() fed after the client exited',
    )
    while (pid === undefined || existsSync(`/proc/${pid}`)) await new Promise((resolve) => setTimeout(resolve, 10))
    await new Promise((resolve) => setTimeout(resolve, 100))
    closeSync(writer) // end of input, after the client is gone
    expect((await loading).message).toMatch(/psql exit 2: .*stand-in gone/)
  })

  it('client program missing', async () => {
    const dir = tempDir()
    const pg = parseDbUrl('postgres://root@127.0.0.1:5432/postgres')
    const error = await failure(dumpDatabase(pg, join(dir, 'x.sql'), {clientPath: '/nonexistent/pg_dump'}))
    expect(error.message).toBe(
      "pg_dump not found (looked for /nonexistent/pg_dump); install postgresql-client or set the program's path (pg_dump_path)",
    )
    const savedPath = process.env.PATH
    process.env.PATH = dir
    try {
      const my = await failure(dumpDatabase(parseDbUrl('mysql://root@127.0.0.1/mysql'), join(dir, 'y.sql')))
      expect(my.message).toMatch(/^mysqldump not found; install mariadb-client/)
      const psql = await failure(loadDump(pg, join(dir, 'nothing.sql')))
      expect(psql.message).toMatch(/cannot read the dump/)
      writeFileSync(join(dir, 'in.sql'), 'SELECT 1;\n')
      expect((await failure(loadDump(pg, join(dir, 'in.sql')))).message).toMatch(
        /^psql not found; install postgresql-client/,
      )
    } finally {
      process.env.PATH = savedPath
    }
    expect(readdirSync(dir)).toEqual(['in.sql'])
  })

  it('a dump that fails half-way leaves nothing at the destination', async () => {
    // Stand-in for pg_dump (a failure in the middle cannot be provoked reliably from a real server):
    // it writes part of a dump, then dies with an error, as pg_dump does when a query fails.
    const dir = tempDir()
    const fake = join(dir, 'pg_dump')
    writeFileSync(
      fake,
      '#!/bin/sh\necho "CREATE TABLE half (a int);"\necho "pg_dump: error: query failed: lost" >&2\nexit 1\n',
    )
    chmodSync(fake, 0o755)
    const dest = join(dir, 'out', 'dump.sql')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(join(dir, 'out'))
    const pg = parseDbUrl('postgres://root@127.0.0.1:5432/postgres')
    for (const gzip of [false, true]) {
      const error = await failure(dumpDatabase(pg, dest, {clientPath: fake, gzip}))
      expect(error.message).toMatch(
        /dumping postgres from PostgreSQL at 127\.0\.0\.1:5432 failed: pg_dump exit 1: .*query failed: lost/,
      )
      expect(readdirSync(join(dir, 'out'))).toEqual([])
    }
    // An existing dump at the destination is left as it was.
    writeFileSync(dest, 'previous good dump')
    await failure(dumpDatabase(pg, dest, {clientPath: fake}))
    expect(readFileSync(dest, 'utf8')).toBe('previous good dump')
    expect(readdirSync(join(dir, 'out'))).toEqual(['dump.sql'])
  })

  it('a corrupt gzip dump is reported as such', async () => {
    await requireServer('postgres')
    const db = await createTestDatabase('postgres')
    const dir = tempDir()
    const good = join(dir, 'good.sql.gz')
    const {gzipSync} = await import('node:zlib')
    writeFileSync(
      good,
      gzipSync(Buffer.from('CREATE TABLE t (a int);\n'.repeat(1) + 'INSERT INTO t VALUES (1);\n'.repeat(5000))),
    )
    const bytes = readFileSync(good)
    writeFileSync(join(dir, 'bad.sql.gz'), bytes.subarray(0, Math.floor(bytes.length / 2)))
    const error = await failure(loadDump(db.target, join(dir, 'bad.sql.gz')))
    expect(error.message).toMatch(/bad\.sql\.gz is corrupt or truncated/)
    const client = dbClient(db.target)
    expect(await client.listTables()).toEqual([]) // one transaction: nothing half-loaded
    await client.close()
    await db.drop()
  })
})

describe('the temp options file (secretChannel file) on a signal', () => {
  it('is removed when bk is killed while the client runs', async () => {
    const {spawn} = await import('node:child_process')
    const {fileURLToPath} = await import('node:url')
    const dist = fileURLToPath(new URL('../dist/db/run-client.js', import.meta.url))
    const url = fileURLToPath(new URL('../dist/db/url.js', import.meta.url))
    const script = `
      import {startClient} from ${JSON.stringify(dist)}
      import {parseDbUrl} from ${JSON.stringify(url)}
      const run = await startClient({tool: 'mysql', target: parseDbUrl('mysql://root@127.0.0.1:3306/'),
        args: ['-e', 'SELECT SLEEP(2)'], stdin: 'ignore', stdout: 'ignore', secretChannel: 'file'})
      process.stdout.write('file ' + run.secretFile + '\\n')
      await run.finish('sleeping')`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
    const file = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const match = /^file (\S+)$/m.exec(out)
        if (match?.[1]) resolve(match[1])
      })
      child.on('exit', () => reject(new Error(`child ended first: ${out}`)))
    })
    expect(existsSync(file)).toBe(true)
    child.kill('SIGTERM')
    await new Promise((resolve) => child.on('exit', resolve))
    expect(existsSync(file)).toBe(false)
  })
})

describe('a dump shorter than the gzip magic', () => {
  it('is fed as it is, from a file or a pipe (not put back after its end: a crash)', async () => {
    const dir = tempDir()
    const fed = join(dir, 'fed')
    const fake = join(dir, 'psql')
    // like psql, it prints the value of bk's closing SELECT (the proof it read to the end)
    writeFileSync(
      fake,
      `#!/bin/sh\ncat > '${fed}'\nsed -n "s/^SELECT '\\(bk-end-[0-9a-f]*\\)' AS bk_end;$/\\1/p" '${fed}'\n`,
    )
    chmodSync(fake, 0o755)
    const pg = parseDbUrl('postgres://root@127.0.0.1:5432/postgres')
    // the dump's byte, as it is, inside bk's transaction
    const asFed = /^BEGIN;\n;\nSELECT 'bk-end-[0-9a-f]{24}' AS bk_end;\nCOMMIT;\n$/
    const one = join(dir, 'one.sql')
    writeFileSync(one, ';')
    await loadDump(pg, one, {clientPath: fake})
    expect(readFileSync(fed, 'utf8')).toMatch(asFed)
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    const writer = openSync(fifo, 'r+')
    writeSync(writer, ';')
    const loading = loadDump(pg, fifo, {clientPath: fake})
    await new Promise((resolve) => setTimeout(resolve, 100))
    closeSync(writer)
    await loading
    expect(readFileSync(fed, 'utf8')).toMatch(asFed)
  })
})
