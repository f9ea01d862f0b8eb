import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {extractFixture, fixturePath, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {afterEach, describe, expect, it} from 'vitest'
import {sqliteBackup, sqliteIntegrityCheck, sqliteTableCounts} from '../src/db/index.js'
import {setWarningOutput} from '../src/ui/warn.js'

const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3')
const children: ReturnType<typeof spawn>[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

/**
 * A writer in another process, one committed INSERT after another (WAL: bursts, no automatic checkpoint; rollback
 * journal: one every few ms, as a web application would — a writer that never pauses starves every reader there).
 */
function startWriter(file: string, journalMode = 'WAL') {
  const script = `
    const Database = require(${JSON.stringify(betterSqlite)})
    const db = new Database(${JSON.stringify(file)}, {timeout: 10000})
    db.pragma('journal_mode = ${journalMode}')
    db.pragma('wal_autocheckpoint = 0')
    const insert = db.prepare("INSERT INTO t (payload) VALUES (?)")
    let n = 0
    function burst() {
      for (let i = 0; i < ${journalMode === 'WAL' ? 20 : 1}; i++) insert.run('w'.repeat(200) + (n++))
      if (n === ${journalMode === 'WAL' ? 200 : 10}) process.stdout.write('ready\\n')
      setTimeout(burst, ${journalMode === 'WAL' ? 1 : 3})
    }
    burst()
  `
  const child = spawn(process.execPath, ['-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
  children.push(child)
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (data: Buffer) => {
      if (data.toString().includes('ready')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)))
  })
  return {child, ready}
}

function makeWalDb(dir: string, rows: number): string {
  const file = join(dir, 'live.db')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)')
  const insert = db.prepare('INSERT INTO t (payload) VALUES (?)')
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`${'x'.repeat(500)}${i}`)
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return file
}

describe('sqliteBackup', () => {
  it('copies a WAL database while another process writes: every row committed before it started, consistent, no -wal', async () => {
    const dir = tempDir()
    const src = makeWalDb(dir, 3000)
    const writer = startWriter(src)
    await writer.ready
    // What was committed before the backup starts (read by another connection).
    const reader = new Database(src, {readonly: true})
    const committed = Number(reader.prepare('SELECT max(id) FROM t').pluck().get())
    reader.close()
    expect(committed).toBeGreaterThanOrEqual(3200)
    // Those rows are (partly) still in the -wal file: a plain file copy of the db alone lacks them (Trac's defect).
    expect(statSync(`${src}-wal`).size).toBeGreaterThan(0)
    const naive = join(dir, 'naive.db')
    copyFileSync(src, naive)
    const naiveDb = new Database(naive, {readonly: true})
    expect(Number(naiveDb.prepare('SELECT count(*) FROM t').pluck().get())).toBeLessThan(committed)
    naiveDb.close()

    const dest = join(dir, 'backup.db')
    const steps: number[] = []
    const result = await sqliteBackup(src, dest, {pagesPerStep: 8, onProgress: (p) => steps.push(p.pagesDone)})
    writer.child.kill('SIGKILL')

    expect(result.sourceJournalMode).toBe('wal')
    expect(result.bytes).toBe(statSync(dest).size)
    expect(steps.at(-1)).toBe(result.pages)
    expect(await sqliteIntegrityCheck(dest)).toEqual([])
    const copy = new Database(dest, {readonly: true})
    const {n, max, min} = copy.prepare('SELECT count(*) AS n, max(id) AS max, min(id) AS min FROM t').get() as {
      n: number
      max: number
      min: number
    }
    expect(String(copy.pragma('journal_mode', {simple: true}))).toBe('delete')
    copy.close()
    expect(max).toBeGreaterThanOrEqual(committed)
    expect(min).toBe(1)
    expect(n).toBe(max) // one snapshot: no gaps
    expect(existsSync(`${dest}-wal`)).toBe(false)
    expect(readdirSync(dir).filter((name) => name.includes('backup'))).toEqual(['backup.db'])
    // The file header says rollback journal (bytes 18-19 = 1), so no -wal is expected beside it.
    const header = readFileSync(dest).subarray(18, 20)
    expect([...header]).toEqual([1, 1])
  })

  it('finishes a consistent copy of a rollback-journal database while another process keeps committing', async () => {
    const dir = tempDir()
    const src = makeWalDb(dir, 3000)
    const switcher = new Database(src)
    switcher.pragma('journal_mode = DELETE')
    switcher.close()
    const writer = startWriter(src, 'DELETE')
    await writer.ready
    const reader = new Database(src, {readonly: true, timeout: 10000})
    const committed = Number(reader.prepare('SELECT max(id) FROM t').pluck().get())
    reader.close()
    const dest = join(dir, 'backup.db')
    const result = await sqliteBackup(src, dest, {pagesPerStep: 8})
    writer.child.kill('SIGKILL')
    expect(result.sourceJournalMode).toBe('delete')
    expect(await sqliteIntegrityCheck(dest)).toEqual([])
    const copy = new Database(dest, {readonly: true})
    const {n, max} = copy.prepare('SELECT count(*) AS n, max(id) AS max FROM t').get() as {n: number; max: number}
    copy.close()
    expect(max).toBeGreaterThanOrEqual(committed)
    expect(n).toBe(max)
  })

  it('copies a rollback-journal database step by step and keeps the source mode', async () => {
    const dir = tempDir()
    const src = join(dir, 'plain.db')
    const db = new Database(src)
    db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE "we""ird name" (x BLOB)')
    const ins = db.prepare('INSERT INTO a (v) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) ins.run(`été ${i} 🙂`)
    })()
    db.prepare('INSERT INTO "we""ird name" VALUES (?)').run(Buffer.from([0, 1, 2, 255]))
    db.close()
    chmodSync(src, 0o640)
    const dest = join(dir, 'copy.db')
    const result = await sqliteBackup(src, dest, {pagesPerStep: 4})
    expect(result.sourceJournalMode).toBe('delete')
    expect(statSync(dest).mode & 0o777).toBe(0o640)
    expect(await sqliteTableCounts(dest)).toEqual({a: 2000, 'we"ird name': 1})
    const copy = new Database(dest, {readonly: true})
    expect(copy.prepare('SELECT v FROM a WHERE id = 2000').pluck().get()).toBe('été 1999 🙂')
    expect(copy.prepare('SELECT x FROM "we""ird name"').pluck().get()).toEqual(Buffer.from([0, 1, 2, 255]))
    copy.close()
    await sqliteBackup(src, join(dir, 'private.db'), {mode: 0o600})
    expect(statSync(join(dir, 'private.db')).mode & 0o777).toBe(0o600)
  })

  it("copies an idle rollback-journal database byte for byte; onSnapshot comes before the copy appears; sha256 is the copy's", async () => {
    const dir = tempDir()
    const src = makeWalDb(dir, 3000)
    const switcher = new Database(src)
    switcher.pragma('journal_mode = DELETE')
    switcher.close()
    const dest = join(dir, 'backup.db')
    const seen: boolean[] = []
    const result = await sqliteBackup(src, dest, {onSnapshot: () => seen.push(existsSync(dest)), sha256: true})
    expect(seen).toEqual([false])
    const bytes = readFileSync(dest)
    expect(bytes.equals(readFileSync(src))).toBe(true)
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    expect(result.pages * 4096).toBe(bytes.length)
    expect(readdirSync(dir).filter((name) => name.includes('backup'))).toEqual(['backup.db'])
  })

  it('restarts a stepwise rollback-journal copy when a commit lands between its steps; the copy has that commit', async () => {
    const dir = tempDir()
    const src = makeWalDb(dir, 3000)
    const writer = new Database(src, {timeout: 0})
    writer.pragma('journal_mode = DELETE')
    const dest = join(dir, 'backup.db')
    const done: number[] = []
    let written = 0
    // between two steps the read lock is released: a commit there must not leave a mix of old and new pages
    const tryWrite = () => {
      try {
        writer.prepare('UPDATE t SET payload = ? WHERE id IN (1, 3000)').run(`changed ${++written}`)
      } catch {
        written--
        setImmediate(tryWrite) // SQLITE_BUSY: the copy holds its read lock, try after its step
      }
    }
    const result = await sqliteBackup(src, dest, {
      pagesPerStep: 16,
      sha256: true,
      onProgress: (p) => {
        done.push(p.pagesDone)
        if (done.length === 3) setImmediate(tryWrite)
      },
    })
    writer.close()
    expect(written).toBe(1)
    expect(result.sourceJournalMode).toBe('delete')
    // progress went back to the start once (the restart), then to the end
    expect(done.some((n, i) => i > 0 && n < done[i - 1]!)).toBe(true)
    expect(done.at(-1)).toBe(result.pages)
    expect(await sqliteIntegrityCheck(dest)).toEqual([])
    const copy = new Database(dest, {readonly: true})
    expect(copy.prepare('SELECT payload FROM t WHERE id IN (1, 3000) ORDER BY id').pluck().all()).toEqual([
      'changed 1',
      'changed 1',
    ])
    copy.close()
    expect(readFileSync(dest).equals(readFileSync(src))).toBe(true)
    // the pass hashed on its way was restarted: the digest is the finished copy's, not a mix of both passes
    expect(result.sha256).toBe(createHash('sha256').update(readFileSync(dest)).digest('hex'))
  })

  it("hashes an idle database copied in many steps as it copies it: the digest is the copy's", async () => {
    const dir = tempDir()
    const src = makeWalDb(dir, 3000)
    const switcher = new Database(src)
    switcher.pragma('journal_mode = DELETE')
    switcher.close()
    const dest = join(dir, 'backup.db')
    let steps = 0
    const result = await sqliteBackup(src, dest, {pagesPerStep: 7, sha256: true, onProgress: () => steps++})
    expect(steps).toBeGreaterThan(10)
    const bytes = readFileSync(dest)
    expect(bytes.equals(readFileSync(src))).toBe(true)
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
  })

  it("a write from another connection of this process during the copy is not held out by the copy's own lock", async () => {
    const dir = tempDir()
    const src = makeWalDb(dir, 16_000) // ~8 MiB: a first pass of several chunks
    const switcher = new Database(src)
    switcher.pragma('journal_mode = DELETE')
    switcher.close()
    // an application sharing the process: its write waits up to 1.5 s for a lock, then fails with SQLITE_BUSY
    const app = new Database(src, {timeout: 1500})
    let outcome: string | undefined
    const dest = join(dir, 'backup.db')
    await sqliteBackup(src, dest, {
      stepMillis: 60_000,
      maxLockMillis: 60_000,
      onProgress: () => {
        if (outcome !== undefined) return
        outcome = 'pending'
        setImmediate(() => {
          try {
            app.prepare("INSERT INTO t (payload) VALUES ('from the application')").run()
            outcome = 'committed'
          } catch (error) {
            outcome = String((error as {code?: string}).code ?? error)
          }
        })
      },
    })
    app.close()
    // a hold of the read lock is synchronous: the write runs after it, never inside it against this very process
    expect(outcome).toBe('committed')
    const copy = new Database(dest, {readonly: true})
    expect(copy.prepare('SELECT count(*) FROM t').pluck().get()).toBe(16_000)
    copy.close()
  })

  it('backs up the Trac fixture database with its row counts', async () => {
    const dir = tempDir()
    extractFixture('trac', 'sqlite-env', dir)
    const envDir = join(dir, readdirSync(dir)[0]!)
    const dest = join(dir, 'trac-copy.db')
    await sqliteBackup(join(envDir, 'db', 'trac.db'), dest)
    const expected = JSON.parse(readFileSync(fixturePath('trac', 'sqlite-counts.json'), 'utf8')) as Record<
      string,
      number
    >
    const counts = await sqliteTableCounts(dest)
    for (const [table, rows] of Object.entries(expected)) {
      if (table === 'database_version') continue
      expect(counts[table], table).toBe(rows)
    }
    expect(await sqliteIntegrityCheck(dest)).toEqual([])
  })

  it('a rollback-journal database switched to WAL between steps: the backup API takes over from an empty file', async () => {
    const dir = tempDir()
    const src = join(dir, 'switch.db')
    const db = new Database(src)
    db.pragma('journal_mode = DELETE')
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)')
    const insert = db.prepare('INSERT INTO t VALUES (?, ?)')
    db.transaction(() => {
      for (let i = 1; i <= 2000; i++) insert.run(i, `${'v'.repeat(3000)}${i}`)
    })()
    const expected = db.prepare('SELECT id, payload FROM t ORDER BY id').all()
    let switched = false
    const dest = join(dir, 'backup.db')
    // pages already copied, then (after this step, once the read lock is released) the application goes to WAL
    const result = await sqliteBackup(src, dest, {
      pagesPerStep: 64,
      onProgress: ({pagesDone}) => {
        if (switched || pagesDone < 500) return
        switched = true
        setImmediate(() => db.pragma('journal_mode = WAL'))
      },
    })
    expect(switched).toBe(true)
    expect(String(db.pragma('journal_mode', {simple: true}))).toBe('wal')
    db.close()
    expect(result.pages).toBeGreaterThan(1000)
    expect(await sqliteIntegrityCheck(dest)).toEqual([])
    const copy = new Database(dest, {readonly: true})
    expect(String(copy.pragma('journal_mode', {simple: true}))).toBe('delete')
    expect(copy.prepare('SELECT id, payload FROM t ORDER BY id').all()).toEqual(expected)
    copy.close()
  })

  /**
   * A rollback-journal database of ~8 MiB (8 chunks of the copy) and a writer in this process that commits in every
   * gap between two holds of the copy's read lock (it cannot commit during one: the hold is synchronous). A fake
   * clock advances 10 ms per reading, so a hold of maxLockMillis 25 copies at most 3 chunks: the whole file never
   * fits in one hold. `events` records each gap the writer ran in ('gap'), each commit ('w') and each chunk copied
   * (its pages done).
   */
  function busyRollbackDb(commits: number) {
    const dir = tempDir()
    const src = makeWalDb(dir, 16_000)
    const writer = new Database(src, {timeout: 0})
    writer.pragma('journal_mode = DELETE')
    const events: (number | 'w' | 'gap')[] = []
    let written = 0
    let stopped = false
    const write = () => {
      if (stopped) return
      events.push('gap')
      if (written >= commits) {
        setImmediate(write)
        return
      }
      try {
        writer.prepare('UPDATE t SET payload = ? WHERE id IN (1, 8000, 16000)').run(`changed ${written + 1}`)
        written++
        events.push('w')
      } catch {
        // SQLITE_BUSY: the copy holds its lock; try again after its hold
      }
      setImmediate(write)
    }
    let t = 0
    const options = {
      pagesPerStep: 64,
      maxLockMillis: 25,
      clock: () => (t += 10),
      onProgress: ({pagesDone}: {pagesDone: number}) => {
        events.push(pagesDone)
        if (events.length === 2) setImmediate(write) // from the third chunk on
      },
    }
    const stop = () => {
      stopped = true
      writer.close()
    }
    return {dir, src, dest: join(dir, 'backup.db'), events, options, stop, written: () => written}
  }

  /** The chunks copied in each hold of the lock (between two gaps the writer ran in) after the first commit. */
  function holdsAfterFirstCommit(events: (number | 'w' | 'gap')[]): number[] {
    const holds: number[] = []
    let run = 0
    for (const e of events.slice(events.indexOf('w'))) {
      if (typeof e === 'number') run++
      else if (run > 0) {
        holds.push(run)
        run = 0
      }
    }
    if (run > 0) holds.push(run)
    return holds
  }

  /** The most chunks copied in one hold of the lock after the first commit. */
  function longestHoldAfterRestart(events: (number | 'w' | 'gap')[]): number {
    return Math.max(0, ...holdsAfterFirstCommit(events))
  }

  it('never holds the read lock longer than maxLockMillis; a source changed under every pass: one last hold, a warning', async () => {
    const busy = busyRollbackDb(Number.POSITIVE_INFINITY)
    const warnings: string[] = []
    setWarningOutput((message) => warnings.push(message))
    try {
      const result = await sqliteBackup(busy.src, busy.dest, {...busy.options, retryMillis: 600})
      expect(result.pages).toBeGreaterThan(1000)
    } finally {
      busy.stop()
      setWarningOutput((message) => process.stderr.write(`bk: warning: ${message}\n`))
    }
    expect(busy.written()).toBeGreaterThan(5)
    // every hold after the first commit was short, but one: the last pass, the whole file (8 chunks) at once
    const holds = holdsAfterFirstCommit(busy.events).sort((a, b) => b - a)
    expect(holds[0]).toBeGreaterThanOrEqual(8)
    expect(holds[1]).toBeLessThanOrEqual(3)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/live\.db changed under every copy pass .*held its read lock for \d+ ms.*WAL mode/)
    // a consistent copy: one of the writer's states, whole
    expect(await sqliteIntegrityCheck(busy.dest)).toEqual([])
    const copy = new Database(busy.dest, {readonly: true})
    expect(copy.prepare('SELECT count(DISTINCT payload) FROM t WHERE id IN (1, 8000, 16000)').pluck().get()).toBe(1)
    copy.close()
    expect(readdirSync(busy.dir).filter((name) => name.includes('backup'))).toEqual(['backup.db'])
  })

  it('a writer that pauses: the copy finishes in holds of at most maxLockMillis and equals the source', async () => {
    const busy = busyRollbackDb(4)
    const result = await sqliteBackup(busy.src, busy.dest, busy.options)
    busy.stop()
    expect(busy.written()).toBe(4)
    expect(longestHoldAfterRestart(busy.events)).toBeLessThanOrEqual(3)
    expect(result.pages * 4096).toBe(statSync(busy.src).size)
    expect(readFileSync(busy.dest).equals(readFileSync(busy.src))).toBe(true)
    const copy = new Database(busy.dest, {readonly: true})
    expect(copy.prepare('SELECT DISTINCT payload FROM t WHERE id IN (1, 8000, 16000)').pluck().all()).toEqual([
      'changed 4',
    ])
    copy.close()
  })

  it('fails with a BkError and leaves nothing at the destination when the source is not a database', async () => {
    const dir = tempDir()
    const src = join(dir, 'not.db')
    writeFileSync(src, 'this is not an sqlite database, just text '.repeat(200))
    const dest = join(dir, 'out.db')
    await expect(sqliteBackup(src, dest)).rejects.toThrow(/not.db.*not an SQLite database|file is not a database/)
    expect(readdirSync(dir)).toEqual(['not.db'])
    await expect(sqliteBackup(join(dir, 'missing.db'), dest)).rejects.toMatchObject({name: 'BkError'})
    expect(readdirSync(dir)).toEqual(['not.db'])
  })
})

describe('sqliteIntegrityCheck', () => {
  it('reports corruption', async () => {
    const dir = tempDir()
    const file = join(dir, 'c.db')
    const db = new Database(file)
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t (v)')
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 5000; i++) ins.run(`value ${i}`)
    })()
    db.close()
    expect(await sqliteIntegrityCheck(file)).toEqual([])
    // Overwrite a page in the middle with garbage.
    const bytes = readFileSync(file)
    bytes.fill(0x41, 4096 * 5, 4096 * 6)
    writeFileSync(file, bytes)
    const problems = await sqliteIntegrityCheck(file)
    expect(problems.length).toBeGreaterThan(0)
    writeFileSync(join(dir, 'text.db'), 'hello, not a database at all '.repeat(100))
    expect((await sqliteIntegrityCheck(join(dir, 'text.db'))).join(' ')).toMatch(/not a database/)
    await expect(sqliteIntegrityCheck(join(dir, 'missing.db'))).rejects.toThrow(/cannot check/)
  })
})
