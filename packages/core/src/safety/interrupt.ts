/**
 * One registry of cleanups for SIGINT/SIGTERM/SIGHUP. Partial files, stage dirs, locks and post-commands register
 * here; on a signal every cleanup runs (newest first, synchronously: the process is about to exit), then the
 * process exits 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP: the terminal or ssh session of a long restore went
 * away; Node dies of it even under nohup, so it gets the same cleanup). Listeners are installed only while something is registered,
 * so a process with nothing to clean up keeps Node's default signal behaviour.
 *
 * A file operation already handed to libuv's thread pool (an open() with O_CREAT) can recreate a temp file
 * just after its cleanup removed it. Cleanups registered with `{sweep: true}` (idempotent removals) therefore
 * run a second time after a short pause that blocks the main thread — no application code runs in between.
 */
export type Cleanup = () => void

/** Whether a cleanup also runs at the next start of bk (sweep) when a signal cut it short. */
export interface InterruptOptions {
  /** Idempotent (removing a path): run again after in-flight file operations have settled. */
  sweep?: boolean
}

interface Entry {
  run: Cleanup
  sweep: boolean
}

const cleanups = new Set<Entry>()
/** Long-running commands (follow) that stop cleanly on the first signal: see onStopRequest. */
const stopRequests = new Set<(signal: NodeJS.Signals) => void>()
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
const EXIT: Record<string, number> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}
const SWEEP_PAUSE_MS = 60
let installed = false
let exiting = false

function onSignal(signal: NodeJS.Signals): void {
  if (exiting) return
  if (stopRequests.size > 0) {
    // The first signal asks a long-running command to finish its current step and return; a second one exits.
    const handlers = [...stopRequests]
    stopRequests.clear()
    for (const handler of handlers) handler(signal)
    return
  }
  exiting = true
  runCleanups()
  process.exit(EXIT[signal] ?? 1)
}

function install(): void {
  if (installed) return
  installed = true
  for (const signal of SIGNALS) process.on(signal, onSignal)
}

function uninstall(): void {
  if (!installed || stopRequests.size > 0) return
  installed = false
  for (const signal of SIGNALS) process.off(signal, onSignal)
}

function runEach(entries: Entry[]): void {
  for (const entry of entries) {
    try {
      entry.run()
    } catch {
      // A cleanup must never stop the others.
    }
  }
}

/** Runs every registered cleanup now (newest first) and empties the registry. Errors are swallowed. */
export function runCleanups(): void {
  const all = [...cleanups].reverse()
  cleanups.clear()
  uninstall()
  runEach(all)
  const sweeps = all.filter((entry) => entry.sweep)
  if (sweeps.length > 0) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SWEEP_PAUSE_MS)
    runEach(sweeps)
  }
}

/**
 * Register `cleanup` (synchronous: use the *Sync fs calls) to run on SIGINT/SIGTERM/SIGHUP.
 * Returns a function that unregisters it; call it once the work it protects is finished.
 */
export function onInterrupt(cleanup: Cleanup, options: InterruptOptions = {}): () => void {
  const entry = {run: cleanup, sweep: options.sweep ?? false}
  cleanups.add(entry)
  install()
  return () => {
    cleanups.delete(entry)
    if (cleanups.size === 0) uninstall()
  }
}

/**
 * For a long-running command (`follow`): the first SIGINT/SIGTERM/SIGHUP calls `handler` instead of exiting,
 * so the command can finish (or discard) its current step and return normally; a second signal runs the
 * cleanups and exits as usual. Returns a function that unregisters the handler.
 */
export function onStopRequest(handler: (signal: NodeJS.Signals) => void): () => void {
  stopRequests.add(handler)
  install()
  return () => {
    stopRequests.delete(handler)
    if (stopRequests.size === 0 && cleanups.size === 0) uninstall()
  }
}
