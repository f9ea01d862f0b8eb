/**
 * Crash-safe by proof (issue 11), for the case that lost data: an env whose SQLite database lives outside it, with
 * committed tickets still in its -wal. bk trac restore is killed (SIGKILL, BK_CRASH_AT) at every crash point of
 * its commit; the next bk on the env (a backup) must recover and say so, the env and its database must then be
 * exactly the old state or exactly the new one, the replaced copies kept, and nothing of the killed run left.
 * Also: a full disk (tmpfs) under the database, SIGTERM, and two restores at once.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {dropPg} from './helpers.js'

const require = createRequire(import.meta.url)
const OLD_TICKETS = 3 + 5 // 3 in the file, 5 committed into the -wal by a writer that was killed
const NEW_TICKETS = 6

interface Scene {
  parent: string
  env: string
  data: string
  db: string
  hot: string
  locks: string
}

/** Env (db outside, rows in its -wal, marker htdocs/old) and a hotcopy of another env (htdocs/new) for that path. */
async function scene(options: {dataDir?: string; newDescriptionBytes?: number} = {}): Promise<Scene> {
  const parent = tempDir('bk-trac-crash-')
  const data = options.dataDir ?? join(parent, 'data')
  mkdirSync(data, {recursive: true})
  const env = join(parent, 'env')
  const db = join(data, 'trac.db')
  await makeExampleEnvironment(env, {tickets: 3, wikiPages: 1, attachments: 0, database: `sqlite:${db}`})
  writeFileSync(join(env, 'htdocs', 'old'), 'old env')
  // a writer that commits 5 tickets in WAL mode and is killed: they exist only in trac.db-wal
  const writer = spawnSync(process.execPath, [
    '-e',
    `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
     const db = new D(${JSON.stringify(db)});
     db.pragma('journal_mode = WAL'); db.pragma('wal_autocheckpoint = 0');
     const ins = db.prepare("INSERT INTO ticket (type, time, changetime, status, summary) VALUES ('defect', 1, 1, 'new', ?)");
     for (let i = 0; i < 5; i++) ins.run('in the wal ' + i);
     process.kill(process.pid, 'SIGKILL')`,
  ])
  if (writer.signal !== 'SIGKILL') throw new Error(`the writer did not run: ${writer.stderr}`)
  const hot = join(parent, 'hot')
  await makeExampleEnvironment(hot, {
    tickets: NEW_TICKETS,
    wikiPages: 1,
    attachments: 0,
    descriptionBytes: options.newDescriptionBytes,
  })
  writeFileSync(join(hot, 'htdocs', 'new'), 'new env')
  // the hotcopy's trac.ini names the outside path, as a hotcopy of this env does (its copy is in db/trac.db)
  const ini = join(hot, 'conf', 'trac.ini')
  const text = readFileSync(ini, 'utf8')
  writeFileSync(ini, text.replace('database = sqlite:db/trac.db', `database = sqlite:${db}`))
  return {parent, env, data, db, hot, locks: tempDir('bk-trac-locks-')}
}

function tickets(db: string): number {
  const conn = new Database(db, {readonly: true, fileMustExist: true})
  try {
    return Number(conn.prepare('SELECT COUNT(*) FROM ticket').pluck().get())
  } finally {
    conn.close()
  }
}

/** 'old' or 'new' when env and database agree; throws on a mix. */
function stateOf(s: Scene): 'old' | 'new' {
  const envOld = existsSync(join(s.env, 'htdocs', 'old'))
  const envNew = existsSync(join(s.env, 'htdocs', 'new'))
  const count = tickets(s.db)
  if (envOld && !envNew && count === OLD_TICKETS) return 'old'
  if (envNew && !envOld && count === NEW_TICKETS) return 'new'
  throw new Error(`mixed state: env old=${envOld} new=${envNew}, database has ${count} tickets`)
}

function leftovers(...dirs: string[]): string[] {
  return dirs.flatMap((dir) => readdirSync(dir).filter((n) => n.includes('.bk-')))
}

const restore = (s: Scene, env: Record<string, string> = {}, extra: string[] = []) =>
  runBk(['trac', 'restore', s.hot, s.env, '--yes', ...extra], {env: {BK_LOCK_DIR: s.locks, ...env}})

describe('bk trac restore with the database outside the env, killed at every crash point', () => {
  const points: [string, 'old' | 'new'][] = [
    ['trac-restore:staged', 'old'],
    ['commit:journal', 'new'],
    ['commit:aside', 'new'],
    ['commit:part', 'new'],
    ['trac-restore:committed', 'new'],
  ]
  for (const [point, expected] of points) {
    it(`${point}: the next bk recovers, says so, and the env is the ${expected} one`, async () => {
      const s = await scene()
      const killed = await restore(s, {BK_CRASH_AT: point})
      expect(killed.signal, killed.stderr).toBe('SIGKILL')
      const next = await runBk(['trac', 'backup', s.env, '--location', join(s.parent, 'backups')], {
        env: {BK_LOCK_DIR: s.locks},
      })
      expect(next.exitCode, next.stderr).toBe(0)
      if (point !== 'trac-restore:committed') {
        expect(next.stderr).toMatch(
          /^bk: warning: (finished a restore interrupted|removed .* left by an interrupted run)/m,
        )
      }
      expect(stateOf(s)).toBe(expected)
      expect(leftovers(s.parent, s.data)).toEqual([])
      if (expected === 'new') {
        // the replaced env and database (its -wal with the 5 tickets included) are kept, whole
        const keptDb = readdirSync(s.data).find((n) => /^trac\.db\.old-\d{8}T\d{6}Z$/.test(n))
        expect(keptDb).toBeDefined()
        expect(tickets(join(s.data, keptDb!))).toBe(OLD_TICKETS)
        expect(readdirSync(s.parent).filter((n) => n.startsWith('env.old-'))).toHaveLength(1)
      }
    })
  }

  it('a full run keeps the old database with its -wal, and a second restore never overwrites the kept copies', async () => {
    const s = await scene()
    const first = await restore(s)
    expect(first.exitCode, first.stderr).toBe(0)
    expect(stateOf(s)).toBe('new')
    const second = await restore(s)
    expect(second.exitCode, second.stderr).toBe(0)
    const kept = readdirSync(s.data).filter(
      (n) => /^trac\.db\.old-/.test(n) && !n.endsWith('-wal') && !n.endsWith('-shm'),
    )
    expect(kept).toHaveLength(2)
    expect(kept.map((n) => tickets(join(s.data, n))).sort()).toEqual([NEW_TICKETS, OLD_TICKETS].sort())
    expect(leftovers(s.parent, s.data)).toEqual([])
  })
})

describe('bk trac restore under faults', () => {
  it('a full disk under the outside database: nothing is lost, nothing is left', async () => {
    const mountPoint = tempDir('bk-trac-tmpfs-')
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], {stdio: 'ignore'})
    } catch {
      console.log('skipped: mounting a tmpfs is not permitted here')
      return
    }
    try {
      const s = await scene({dataDir: join(mountPoint, 'data'), newDescriptionBytes: 900_000})
      const r = await restore(s)
      expect(r.exitCode).toBe(1)
      expect(r.stderr).toMatch(/ENOSPC|no space/i)
      expect(stateOf(s)).toBe('old')
      expect(leftovers(s.parent, s.data)).toEqual([])
    } finally {
      execFileSync('umount', [mountPoint])
    }
  })

  it('SIGTERM while it runs: the env is untouched, stages and locks are gone', async () => {
    const s = await scene()
    const r = await restore(s, {}, ['--pre-command', 'kill -TERM $PPID; sleep 5'])
    expect(r.exitCode).toBe(143)
    expect(stateOf(s)).toBe('old')
    expect(leftovers(s.parent, s.data)).toEqual([])
    expect(readdirSync(s.locks).filter((n) => !n.startsWith('.'))).toEqual([])
  })

  it('two restores at once: the second is refused naming the first', async () => {
    const s = await scene()
    const first = restore(s, {}, ['--pre-command', 'sleep 8'])
    for (let i = 0; i < 1200 && readdirSync(s.locks).filter((n) => n.endsWith('.lock')).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    const second = await restore(s)
    expect(second.exitCode).toBe(1)
    expect(second.stderr).toMatch(/is locked by pid \d+ \(bk trac restore, since /)
    const done = await first
    expect(done.exitCode, done.stderr).toBe(0)
    expect(stateOf(s)).toBe('new')
  })
})

describe('bk trac backup killed at its crash points', () => {
  for (const [point, listed] of [
    ['trac-backup:staged', 0],
    ['trac-backup:published', 1],
  ] as const) {
    it(`${point}: list shows only complete archives; the next backup sweeps the rest and says so`, async () => {
      const s = await scene()
      const location = join(s.parent, 'backups')
      const env = {BK_LOCK_DIR: s.locks}
      const killed = await runBk(['trac', 'backup', s.env, '--location', location], {env: {...env, BK_CRASH_AT: point}})
      expect(killed.signal, killed.stderr).toBe('SIGKILL')
      const list = await runBk(['trac', 'list', '--location', location, '--json'])
      expect(list.json<{artifacts: unknown[]}>().artifacts).toHaveLength(listed)
      const next = await runBk(['trac', 'backup', s.env, '--location', location], {env})
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(/^bk: warning: removed .*\.bk-stage-.* left by an interrupted run/m)
      expect(leftovers(location)).toEqual([])
      expect(readdirSync(location)).toHaveLength(listed + 1)
    })
  }
})

describe('bk trac convert killed after it created the target database', () => {
  it('the next run drops that database, says so, and converts', async () => {
    const s = await scene()
    const name = `bk_trac_crash_${process.pid}_${Date.now().toString(36)}`
    const argv = ['trac', 'convert', s.env, join(s.parent, 'pg'), '--to', `postgres://root@127.0.0.1/${name}`]
    try {
      const killed = await runBk(argv, {env: {BK_LOCK_DIR: s.locks, BK_CRASH_AT: 'trac-convert:copied'}})
      expect(killed.signal, killed.stderr).toBe('SIGKILL')
      expect(existsSync(join(s.parent, 'pg'))).toBe(false)
      const next = await runBk(argv, {env: {BK_LOCK_DIR: s.locks}})
      expect(next.exitCode, next.stderr).toBe(0)
      expect(next.stderr).toMatch(
        /^bk: warning: dropped the database postgres:\/\/root@127\.0\.0\.1\/bk_trac_crash_.*interrupted run/m,
      )
      expect(leftovers(s.parent)).toEqual([])
    } finally {
      await dropPg(name)
    }
  })
})

describe('bk trac hotcopy killed while it copies', () => {
  for (const point of ['trac-hotcopy:copied', 'trac-hotcopy:staged']) {
    it(`${point}: no destination that looks complete; the next hotcopy sweeps what was left and is whole`, async () => {
      const parent = tempDir('bk-trac-hotcopy-crash-')
      const env = join(parent, 'env')
      // attachments big enough to be fsynced one by one and hashed in the hashing thread; a rollback-journal database
      await makeExampleEnvironment(env, {tickets: 20, wikiPages: 2, attachments: 3, attachmentBytes: 2 * 1024 * 1024})
      const dest = join(parent, 'copy')
      const killed = await runBk(['trac', 'hotcopy', env, dest, '-q'], {env: {BK_CRASH_AT: point}})
      expect(killed.signal, killed.stderr).toBe('SIGKILL')
      expect(existsSync(dest)).toBe(false)
      // what the killed run left: its stage (the tree), and its database scratch while the copy was not yet staged
      const left = readdirSync(parent).filter((name) => name.startsWith('.copy.bk-partial-'))
      expect(left.length).toBeGreaterThan(0)
      const next = await runBk(['trac', 'hotcopy', env, dest, '-q'])
      expect(next.exitCode, next.stderr).toBe(0)
      expect(readdirSync(parent).filter((name) => name.startsWith('.copy.'))).toEqual([])
      const verify = await runBk(['trac', 'verify', dest])
      expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0)
      expect(readFileSync(join(dest, 'db', 'trac.db')).equals(readFileSync(join(env, 'db', 'trac.db')))).toBe(true)
    })
  }
})
