/**
 * Private stand-in for safety's onInterrupt (not landed when this was written): synchronous cleanups of partial
 * files run on SIGINT/SIGTERM and at process exit. After running them the signal is re-raised with the default
 * action (so the exit status still says "killed by SIGTERM") unless someone else also listens to it.
 */
const cleanups = new Set<() => void>()
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
let installed = false

function runAll(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn)
    try {
      fn()
    } catch {
      // best effort: the process is going away
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll()
  uninstall()
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function install(): void {
  if (installed) return
  installed = true
  for (const signal of signals) process.on(signal, onSignal)
  process.on('exit', runAll)
}

function uninstall(): void {
  if (!installed) return
  installed = false
  for (const signal of signals) process.removeListener(signal, onSignal)
  process.removeListener('exit', runAll)
}

/** Register a synchronous cleanup; returns the function that unregisters it (call it once the work is done). */
export function registerCleanup(fn: () => void): () => void {
  cleanups.add(fn)
  install()
  return () => {
    cleanups.delete(fn)
    if (cleanups.size === 0) uninstall()
  }
}
