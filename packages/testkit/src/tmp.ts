import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const made: string[] = []
let hooked = false

/** A fresh temp dir, removed at process exit (and by cleanupTempDirs in afterAll/afterEach). */
export function tempDir(prefix = 'bk-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  if (!hooked) {
    hooked = true
    process.on('exit', cleanupTempDirs)
  }
  return dir
}

export function cleanupTempDirs(): void {
  while (made.length > 0) {
    const dir = made.pop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  }
}
