/**
 * One registry of cleanups for SIGINT/SIGTERM. Partial files, stage dirs, locks and post-commands register
 * here; on a signal every cleanup runs (newest first, synchronously: the process is about to exit), then the
 * process exits 130 (SIGINT) or 143 (SIGTERM). Listeners are installed only while something is registered,
 * so a process with nothing to clean up keeps Node's default signal behaviour.
 */
export type Cleanup = () => void

const cleanups = new Set<{run: Cleanup}>()
const EXIT: Record<string, number> = {SIGINT: 130, SIGTERM: 143}
let installed = false
let exiting = false

function onSignal(signal: NodeJS.Signals): void {
  if (exiting) return
  exiting = true
  runCleanups()
  process.exit(EXIT[signal] ?? 1)
}

function install(): void {
  if (installed) return
  installed = true
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

function uninstall(): void {
  if (!installed) return
  installed = false
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}

/** Runs every registered cleanup now (newest first) and empties the registry. Errors are swallowed. */
export function runCleanups(): void {
  const all = [...cleanups].reverse()
  cleanups.clear()
  uninstall()
  for (const entry of all) {
    try {
      entry.run()
    } catch {
      // A cleanup must never stop the others.
    }
  }
}

/**
 * Register `cleanup` (synchronous: use the *Sync fs calls) to run on SIGINT/SIGTERM.
 * Returns a function that unregisters it; call it once the work it protects is finished.
 */
export function onInterrupt(cleanup: Cleanup): () => void {
  const entry = {run: cleanup}
  cleanups.add(entry)
  install()
  return () => {
    cleanups.delete(entry)
    if (cleanups.size === 0) uninstall()
  }
}
