import {defineConfig} from 'vitest/config'

const project = (name: string, root: string, options: {fileParallelism?: boolean} = {}) => ({
  test: {
    name,
    root,
    ...options,
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks' as const,
  },
})

export default defineConfig({
  test: {
    projects: [
      project('core', 'packages/core'),
      project('cli', 'apps/bk'),
      ...['trac', 'roundup', 'zodb', 'iotstack'].map((p) => project(`plugin-${p}`, `packages/plugin-${p}`)),
      // Aegir names a site's databases after its uri (provision's rule), so its test files, which all restore
      // example.com, would race for the same names on the shared server: run them one after another.
      project('plugin-aegir', 'packages/plugin-aegir', {fileParallelism: false}),
    ],
  },
})
