import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {defineConfig} from 'vitest/config'

const root = dirname(fileURLToPath(import.meta.url))

// Tests built on the real tools' data need ../shared/fixtures (the compatibility contract). A fresh clone with
// nothing beside it skips those files with one line saying how to provide them; CI (CI=true) never skips them.
const fixtures = process.env.BK_FIXTURES ?? resolve(root, '..', 'shared', 'fixtures')
const skipFixtureTests = !existsSync(fixtures) && process.env.CI !== 'true'
const fixtureUse = /\b(fixturePath|fixturesDir|copyFixture|extractFixture)\b/

/** Whether a test file (or a local module it imports, transitively) reads the fixtures. */
function usesFixtures(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file) || !existsSync(file)) return false
  seen.add(file)
  const text = readFileSync(file, 'utf8')
  if (fixtureUse.test(text)) return true
  for (const [, spec] of text.matchAll(/from\s+'(\.\.?\/[^']+)'/g)) {
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'))
    if (usesFixtures(target, seen)) return true
  }
  return false
}

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, {recursive: true, encoding: 'utf8'})
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => join(dir, f))
}

const skipped: string[] = []
const project = (name: string, dir: string, options: {fileParallelism?: boolean} = {}) => {
  const exclude = skipFixtureTests ? testFiles(join(root, dir, 'test')).filter((f) => usesFixtures(f)) : []
  skipped.push(...exclude.map((f) => relative(root, f)))
  return {
    test: {
      name,
      root: dir,
      ...options,
      include: ['test/**/*.test.ts'],
      exclude: [
        '**/node_modules/**',
        ...exclude.map((f) => relative(join(root, dir), f)),
        // holdouts against a real application's source are opt-in (never a skip in CI): BK_ROUNDUP_SRC runs them
        ...(process.env.BK_ROUNDUP_SRC ? [] : ['test/**/*-holdout.test.ts']),
      ],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: 'forks' as const,
    },
  }
}

const projects = [
  project('core', 'packages/core'),
  project('cli', 'apps/bk'),
  ...['trac', 'roundup', 'zodb', 'iotstack'].map((p) => project(`plugin-${p}`, `packages/plugin-${p}`)),
  // Aegir names a site's databases after its uri (provision's rule), so its test files, which all restore
  // example.com, would race for the same names on the shared server: run them one after another.
  project('plugin-aegir', 'packages/plugin-aegir', {fileParallelism: false}),
]

if (skipped.length > 0) {
  console.warn(
    `bk tests: ${skipped.length} test files skipped: they need the real tools' fixtures, not found at ${fixtures} ` +
      `(put the shared folder beside this repository or set BK_FIXTURES=<dir>; CI=true fails instead of skipping)`,
  )
}

export default defineConfig({test: {projects}})
