import {execFileSync} from 'node:child_process'
import {cpSync, mkdirSync} from 'node:fs'
import {basename, join} from 'node:path'
import {fixturePath} from './paths.js'
import {tempDir} from './tmp.js'

/**
 * Extract a fixture tree (`<app>/<name>.tar.gz`) into a fresh temp dir with GNU tar, independently of bk's own
 * archive code (so a bug there cannot hide in the test's setup). Owners are kept when running as root.
 * Returns the directory holding the extracted tree.
 */
export function extractFixture(app: string, name: string, into = tempDir()): string {
  const file = fixturePath(app, name.endsWith('.tar.gz') ? name : `${name}.tar.gz`)
  mkdirSync(into, {recursive: true})
  execFileSync('tar', ['-xzpf', file, '--numeric-owner', '-C', into])
  return into
}

/** Copy a fixture file or folder to a temp dir (the fixtures folder is read-only). */
export function copyFixture(app: string, name: string, into = tempDir()): string {
  const dest = join(into, basename(name))
  cpSync(fixturePath(app, name), dest, {recursive: true, preserveTimestamps: true})
  return dest
}
