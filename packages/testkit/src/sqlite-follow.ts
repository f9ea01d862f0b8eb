// Test helpers for `bk trac follow` / `bk roundup follow`: a writer process committing into a live SQLite
// database (WAL mode) and logging each transaction's start and end, the follower as a real bk process that can
// be killed, and the times a follow location records.
import {type ChildProcess, spawn} from 'node:child_process'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {SqliteFollower, type SqliteFollowTarget} from '@bkcli/core'
import {repoRoot} from './paths.js'
import {tempDir} from './tmp.js'

/** One transaction of the writer: its number and when it began and ended (ms since the epoch). */
export interface WriterTxn {
  n: number
  s: number
  e: number
}

const WRITER = `
import {appendFileSync, existsSync} from 'node:fs'
import {createRequire} from 'node:module'
const [sqlitePath, db, log, stop, specJson] = process.argv.slice(2)
const Database = createRequire(import.meta.url)(sqlitePath)
const spec = JSON.parse(specJson)
const conn = new Database(db, {timeout: 60000})
conn.pragma('journal_mode = WAL')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
let n = spec.first
while (!existsSync(stop)) {
  const pad = 'x'.repeat(spec.pad[n % spec.pad.length])
  const sql = spec.statements.map((s) => s.replaceAll('$N', String(n)).replaceAll('$PAD', pad)).join(';\\n')
  const s = Date.now()
  conn.exec('BEGIN IMMEDIATE;' + sql + ';COMMIT')
  const e = Date.now()
  appendFileSync(log, n + ' ' + s + ' ' + e + '\\n')
  n++
  await sleep(spec.sleepMs)
}
conn.close()
`

/** What the writer commits: SQL statements per transaction ($N: its number, $PAD: padding of varying size). */
export interface WriterSpec {
  statements: string[]
  /** the first transaction number */
  first?: number
  /** padding sizes, cycled by transaction number (varies the frames per transaction) */
  pad?: number[]
  sleepMs?: number
}

/** A process committing a transaction every ~10 ms until stop(); its log says when each one began and ended. */
export class SqliteWriter {
  private readonly child: ChildProcess
  private readonly log: string
  private readonly stopFile: string
  private readonly exited: Promise<number | null>
  stderr = ''

  /** `sqliteModule`: the resolved path of better-sqlite3 (the test's own dependency). */
  constructor(sqliteModule: string, db: string, spec: WriterSpec) {
    const dir = tempDir('bk-writer-')
    const script = join(dir, 'writer.mjs')
    writeFileSync(script, WRITER)
    this.log = join(dir, 'log')
    writeFileSync(this.log, '')
    this.stopFile = join(dir, 'stop')
    const full = {first: 1, pad: [0, 300, 2000, 9000, 100, 40_000], sleepMs: 10, ...spec}
    this.child = spawn(process.execPath, [script, sqliteModule, db, this.log, this.stopFile, JSON.stringify(full)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
  }

  /** Transactions committed so far (complete log lines). */
  txns(): WriterTxn[] {
    const text = readFileSync(this.log, 'utf8')
    return text
      .split('\n')
      .slice(0, -1)
      .map((l) => {
        const [n, s, e] = l.split(' ').map(Number)
        return {n: n!, s: s!, e: e!}
      })
  }

  /** Stops after the current transaction; the whole log. */
  async stop(): Promise<WriterTxn[]> {
    writeFileSync(this.stopFile, '')
    const code = await this.exited
    if (code !== 0) throw new Error(`the writer failed (${code}): ${this.stderr}`)
    return this.txns()
  }
}

/** `bk <app> follow …` as a real process (the built bk), with its --json lines. */
export class FollowerProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>

  constructor(args: string[], env: Record<string, string | undefined> = {}) {
    const root = repoRoot()
    this.child = spawn(process.execPath, [join(root, 'apps/bk/bin/run.js'), ...args], {
      env: {...process.env, NO_COLOR: '1', BK_DATA_DIR: join(root, '.bk-dev'), ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString()
    })
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({code, signal})))
  }

  /** The shipment lines printed so far. */
  get shipments(): {kind: string; commits: number; bytes: number; lagMs: number; time: string; reason?: string}[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"shipped"'))
      .map((l) => JSON.parse(l))
  }

  /** Polls (generous timeout: no wall-clock assertion) until `ok()` holds. */
  async until(ok: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!ok()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`follower exited while waiting for ${what}:\n${this.stdout}\n${this.stderr}`)
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${this.stdout}\n${this.stderr}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{code: number | null; signal: NodeJS.Signals | null}> {
    this.child.kill(signal)
    return this.exited
  }
}

/** Every manifest of a follow location: kind, time (state read at) and polledAt (read began), in order. */
export function followManifestTimes(location: string): {kind: string; time: number; polledAt: number; gen: string}[] {
  const out: {kind: string; time: number; polledAt: number; gen: string}[] = []
  const gens = join(location, 'generations')
  for (const gen of readdirSync(gens).sort()) {
    for (const name of readdirSync(join(gens, gen)).sort()) {
      if (!/^\d{8}\.(wal|snapshot)\.json$/.test(name)) continue
      const m = JSON.parse(readFileSync(join(gens, gen, name), 'utf8'))
      out.push({kind: m.kind, time: Date.parse(m.time), polledAt: Date.parse(m.polledAt), gen})
    }
  }
  return out
}

/** Run core's follower in process until it has shipped a snapshot and one WAL segment (or only the snapshot when nothing is written), then stop it: a small follow location. */
export async function followOnce(target: SqliteFollowTarget, location: string): Promise<void> {
  let follower: SqliteFollower | undefined
  follower = new SqliteFollower(
    target,
    {location, pollMs: 20},
    {
      info() {},
      note() {},
      shipped: () => follower?.stop('done'),
    },
  )
  await follower.run()
}
