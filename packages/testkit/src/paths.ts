import {existsSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

/** The monorepo root: the nearest folder above this package holding pnpm-workspace.yaml. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('testkit: cannot find the repository root (pnpm-workspace.yaml)')
    dir = parent
  }
  return dir
}

/** ../shared/fixtures beside the repository (BK_FIXTURES overrides). */
export function fixturesDir(): string {
  const dir = process.env.BK_FIXTURES ?? resolve(repoRoot(), '..', 'shared', 'fixtures')
  if (!existsSync(dir)) throw new Error(`testkit: fixtures not found at ${dir} (set BK_FIXTURES)`)
  return dir
}

export function fixturePath(...parts: string[]): string {
  return join(fixturesDir(), ...parts)
}

/**
 * Whether tests that read the fixtures should run: they are present, or CI=true (where a missing folder must fail,
 * never skip). A clone with nothing beside it skips them.
 */
export function fixtureTestsRun(): boolean {
  return (
    process.env.CI === 'true' || existsSync(process.env.BK_FIXTURES ?? resolve(repoRoot(), '..', 'shared', 'fixtures'))
  )
}

/** Whether `error` comes from the fixtures folder being absent (testkit's own error, or ENOENT inside it). */
export function isMissingFixtures(error: unknown): boolean {
  if (fixtureTestsRun()) return false
  const message = error instanceof Error ? error.message : String(error)
  return message.includes('fixtures not found') || message.includes('/fixtures/') || message.includes("/fixtures'")
}
