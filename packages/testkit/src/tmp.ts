import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const made: string[] = []
let hooked = false

/** A fresh temp dir, removed at process exit or SIGTERM (and by cleanupTempDirs in afterAll/afterEach). */
export function tempDir(prefix = 'bk-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  if (!hooked) {
    hooked = true
    process.on('exit', cleanupTempDirs)
    // vitest's fork pool ends its workers with SIGTERM, which skips 'exit' handlers: every temp dir stayed in /tmp
    process.once('SIGTERM', () => {
      cleanupTempDirs()
      // another SIGTERM listener (core's cleanup registry) still runs, and exits, after this one
      if (process.listenerCount('SIGTERM') === 0) process.exit(143)
    })
  }
  return dir
}

export function cleanupTempDirs(): void {
  while (made.length > 0) {
    const dir = made.pop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  }
}
