import {readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {messageOf} from '@bkcli/core/errors'
import {atomicFile, pidAlive} from '@bkcli/core/safety'
import {ComposeDriver} from './docker-compose.js'
import type {StackPaths} from './stack.js'

/**
 * A backup brings the stack down for its copy (as IOTstack's backup.sh does) and up again afterwards — also after a
 * failure and on SIGINT/SIGTERM. Only a SIGKILL (or a power cut) can leave it down: this marker in the backups folder
 * says so, and the next bk run on the stack (its recovery step, under the lock) brings the stack up again.
 */
export const STOPPED_MARKER = '.bk-stack-stopped.json'

function markerPath(paths: StackPaths): string {
  return join(paths.backups, STOPPED_MARKER)
}

/** Written before `down`: this run is about to stop the stack. */
export async function markStopped(paths: StackPaths, compose: string): Promise<void> {
  const text = `${JSON.stringify({pid: process.pid, compose, at: new Date().toISOString()})}\n`
  await atomicFile(markerPath(paths), (tmp) => writeFile(tmp, text), {mode: 0o600, overwrite: true})
}

/** Removed once the stack is up again. */
export async function clearStopped(paths: StackPaths): Promise<void> {
  await rm(markerPath(paths), {force: true})
}

/** Recovery: a run killed while the stack was down for its copy; bring the stack up again. One line per thing done. */
export async function recoverStopped(paths: StackPaths, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const text = await readFile(markerPath(paths), 'utf8').catch(() => undefined)
  if (text === undefined) return []
  let pid = 0
  try {
    pid = Number((JSON.parse(text) as {pid?: unknown}).pid) || 0
  } catch {}
  if (pid === process.pid || (pid > 0 && pidAlive(pid))) return []
  try {
    const driver = await ComposeDriver.open(paths.dir, env)
    await driver.up()
    await clearStopped(paths)
    return [
      `a backup killed while the stack was down for its copy${pid ? ` (pid ${pid})` : ''} left it down: brought it up again (${driver.name} up -d)`,
    ]
  } catch (error) {
    return [
      `a backup killed while the stack was down for its copy left it down, and bringing it up failed: ${messageOf(error)}; run docker compose up -d in ${paths.dir}`,
    ]
  }
}
