import {randomBytes} from 'node:crypto'
import {rmSync} from 'node:fs'
import {open, rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

/** A temp path beside `dest` (same file system, so the final rename is atomic). */
export function tempPathBeside(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.bk-partial-${process.pid}-${randomBytes(4).toString('hex')}`)
}

const pending = new Set<string>()
const SIGNALS = ['SIGINT', 'SIGTERM'] as const

/** On SIGINT/SIGTERM: remove the partial files, then let the signal do what it would have done. */
function onSignal(signal: NodeJS.Signals): void {
  for (const file of pending) rmSync(file, {force: true})
  pending.clear()
  unhook()
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function hook(): void {
  if (pending.size === 0) for (const signal of SIGNALS) process.on(signal, onSignal)
}

function unhook(): void {
  for (const signal of SIGNALS) process.off(signal, onSignal)
}

/** Track a temp path so an interrupt removes it; returns the function that stops tracking it. */
export function trackPartial(path: string): () => void {
  hook()
  pending.add(path)
  return () => {
    if (pending.delete(path) && pending.size === 0) unhook()
  }
}

/**
 * Write `dest` through a temp file beside it: `write(tmp)` fills it, then fsync and rename. On failure (or an
 * interrupt) the temp file is removed and `dest` is untouched.
 */
export async function writeAtomically<T>(dest: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempPathBeside(dest)
  const untrack = trackPartial(tmp)
  try {
    const result = await write(tmp)
    await fsyncPath(tmp)
    await rename(tmp, dest)
    await fsyncPath(dirname(dest)).catch(() => {})
    return result
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  } finally {
    untrack()
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
