import {defineConfig} from 'vitest/config'

const project = (name: string, root: string) => ({
  test: {
    name,
    root,
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
      ...['trac', 'roundup', 'zodb', 'aegir', 'iotstack'].map((p) => project(`plugin-${p}`, `packages/plugin-${p}`)),
    ],
  },
})
