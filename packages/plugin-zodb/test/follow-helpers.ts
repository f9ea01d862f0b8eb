// Test helpers for `bk zodb follow`: the follower as a real process (the built bk), polling for what it shipped,
// and restores of the location through bk's own restore code.
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {repoRoot, tempDir} from '@bkcli/testkit'
import {planRestore, restoreFileStorage} from '../src/restore.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

/**
 * Makes `repo` a 1 MiB tmpfs, for a full disk mid-backup; false (the skip said on stdout) where mounting is not
 * permitted. The caller unmounts it (`umount`).
 */
export function tinyLocation(repo: string): boolean {
  mkdirSync(repo)
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', repo]).status === 0) return true
  console.log('skipped: cannot mount a tmpfs here (not permitted)')
  return false
}

/** A temp folder with a new Data.fs, the location path (not made) and a lock dir of its own for the follower. */
export function followWorkspace(prefix = 'bk-follow-') {
  const work = tempDir(prefix)
  const datafs = join(work, 'Data.fs')
  const repo = join(work, 'repo')
  const env = {BK_LOCK_DIR: join(work, 'locks')}
  mkdirSync(env.BK_LOCK_DIR)
  return {work, datafs, repo, env, db: SyntheticStorage.open(datafs)}
}

export interface ShipLine {
  shipped: string
  bytes: number
  lagMs: number
  kind: 'full' | 'incremental'
  file: string
  end: number
  transactions: number
}

export class FollowProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>

  constructor(args: string[], env: Record<string, string | undefined> = {}) {
    const root = repoRoot()
    this.child = spawn(process.execPath, [join(root, 'apps/bk/bin/run.js'), 'zodb', 'follow', ...args], {
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

  /** The JSON lines printed so far (shipments; the final result has `kind: 'operation'`). */
  get shipments(): ShipLine[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"shipped"'))
      .map((l) => JSON.parse(l) as ShipLine)
  }

  get shippedEnd(): number {
    return this.shipments.at(-1)?.end ?? -1
  }

  /** Polls (generous timeout: no wall-clock assertion) until `ok()` holds. */
  async until(ok: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!ok()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`follower exited while waiting for ${what}:\n${this.stdout}\n${this.stderr}`)
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${this.stdout}\n${this.stderr}`)
      await sleep(50)
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{code: number | null; signal: NodeJS.Signals | null}> {
    this.child.kill(signal)
    return this.exited
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Restores the newest chain of `repo` with bk's restore; returns the bytes. */
export async function restored(repo: string, date?: string): Promise<Buffer> {
  const out = join(tempDir('bk-follow-restore-'), 'Data.fs')
  await restoreFileStorage(await planRestore(repo, date), out)
  return readFileSync(out)
}

/** Every .dat line of the location, per chain: [name, start, end]. */
export function datLines(repo: string): {dat: string; lines: [string, number, number][]}[] {
  return readdirSync(repo)
    .filter((n) => n.endsWith('.dat'))
    .sort()
    .map((dat) => ({
      dat,
      lines: readFileSync(join(repo, dat), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const f = l.split(' ')
          return [f[0]!.split('/').pop()!, Number(f[1]), Number(f[2])] as [string, number, number]
        }),
    }))
}
