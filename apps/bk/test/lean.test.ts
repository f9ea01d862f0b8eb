import {readFileSync} from 'node:fs'
import {basename, join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {coreFiles, moduleProbe, OCLIF_BUNDLE, packagesOf} from './module-probe.js'

const root = repoRoot()
const pkg = (dir: string) => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))
const PLUGINS = ['trac', 'roundup', 'zodb', 'aegir', 'iotstack']
const DRIVERS = ['better-sqlite3', 'mysql2', 'pg']

describe('lean dependency graph', () => {
  it('core has the database drivers as optional peer dependencies only', () => {
    const core = pkg('packages/core')
    for (const driver of DRIVERS) {
      expect(core.dependencies[driver]).toBeUndefined()
      expect(core.peerDependencies[driver]).toBeDefined()
      expect(core.peerDependenciesMeta[driver]).toEqual({optional: true})
    }
  })

  it('trac and roundup depend on the drivers they use; zodb, aegir and iotstack on none', () => {
    for (const plugin of ['trac', 'roundup']) {
      const deps = pkg(`packages/plugin-${plugin}`).dependencies
      for (const driver of DRIVERS) expect(deps[driver], `${plugin} → ${driver}`).toBeDefined()
    }
    for (const plugin of ['zodb', 'aegir', 'iotstack']) {
      const deps = Object.keys(pkg(`packages/plugin-${plugin}`).dependencies ?? {})
      expect(deps.filter((dep) => DRIVERS.includes(dep))).toEqual([])
    }
  })

  it('bk --help (every plugin loaded) loads no database driver', async () => {
    // A preloaded module reports, at exit, which drivers (CommonJS: they land in require.cache) were loaded.
    const probe = join(tempDir('bk-probe-'), 'probe.cjs')
    const {writeFileSync} = await import('node:fs')
    writeFileSync(
      probe,
      `process.on('exit', () => {
        const names = Object.keys(require.cache)
          .map((file) => /node_modules[\\\\/](pg|mysql2|better-sqlite3)[\\\\/]/.exec(file)?.[1])
          .filter(Boolean)
        process.stderr.write('DRIVERS ' + JSON.stringify([...new Set(names)]) + '\\n')
      })\n`,
    )
    const result = await runBk(['--help'], {env: {NODE_OPTIONS: `--require=${probe}`}})
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('APPLICATION PLUGINS')
    expect(result.stderr).toContain('DRIVERS []\n')
  })

  it.each([[['--help']], [['--version']], [['trac', 'list', '--help']], [['zodb', 'verify', '--help']]])(
    'bk %j through oclif loads no driver, ajv, tar, execa or yaml, and nothing of @bkcli/core (ESM or CommonJS)',
    async (args) => {
      const probe = moduleProbe()
      const out = probe.out()
      // BK_STARTUP_CACHE=off: oclif renders it (a replay loads even less, see startup-cache.test.ts)
      const env = {NODE_OPTIONS: probe.nodeOptions, MODULE_PROBE_OUT: out, BK_STARTUP_CACHE: 'off'}
      const result = await runBk(args, {env})
      expect(result.exitCode).toBe(0)
      expect(result.stderr).toBe('')
      const files = probe.loaded(out)
      expect(packagesOf(files)).toContain('@oclif/core') // the probe sees oclif (bundled in @bkcli/core)
      expect(files.some((file) => /[\\/]bin[\\/]run\.js$/.test(file))).toBe(true) // and ES modules
      const heavy = ['pg', 'mysql2', 'better-sqlite3', 'ajv', 'tar', 'execa', 'yaml']
      expect(packagesOf(files).filter((name) => heavy.includes(name))).toEqual([])
      expect(coreFiles(files)).toEqual([])
      // one copy of oclif: the bundle, never the package's own CommonJS modules beside it
      expect(files.filter((file) => /node_modules[\\/]@oclif[\\/]core[\\/]/.test(file))).toEqual([])
    },
  )

  it.each([['trac'], ['roundup'], ['zodb']])(
    'bk %s list, a command run, loads no driver, ajv, tar, execa or yaml',
    async (plugin) => {
      const probe = moduleProbe()
      const out = probe.out()
      const location = tempDir('bk-lean-location-')
      const env = {NODE_OPTIONS: probe.nodeOptions, MODULE_PROBE_OUT: out}
      const result = await runBk([plugin, 'list', '--location', location], {env})
      expect(result.exitCode).toBe(0)
      expect(result.stdout).toBe(`No backups in ${location}.\n`)
      const files = probe.loaded(out)
      expect(files.some((file) => /[\\/]packages[\\/]core[\\/]dist[\\/]/.test(file))).toBe(true) // the probe sees core
      const heavy = ['pg', 'mysql2', 'better-sqlite3', 'ajv', 'tar', 'execa', 'yaml']
      expect(packagesOf(files).filter((name) => heavy.includes(name))).toEqual([])
      // one copy of oclif for bk, the plugin and core's BkCommand: @bkcli/core's bundle of it, whose entry and chunks
      // are ES modules, and not one of the package's own CommonJS modules (nor any CommonJS module at all)
      expect(files.filter((file) => OCLIF_BUNDLE.test(file)).map((file) => basename(file))).toEqual(
        expect.arrayContaining(['index.js', 'execute.js', 'settings.js']),
      )
      expect(files.filter((file) => /[\\/]@oclif[\\/]core[\\/]/.test(file))).toEqual([])
      expect(files.filter((file) => file.endsWith('.cjs') || /[\\/]node_modules[\\/].*\.js$/.test(file))).toEqual([])
    },
  )

  it.each([['roundup'], ['iotstack'], ['trac']])(
    'bk %s backup that fails at once loads no driver, no engine’s SQL connection module and no decode thread',
    async (plugin) => {
      const probe = moduleProbe()
      const out = probe.out()
      const env = {NODE_OPTIONS: probe.nodeOptions, MODULE_PROBE_OUT: out}
      const result = await runBk([plugin, 'backup', '/nonexistent', '-q'], {env})
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('/nonexistent')
      const files = probe.loaded(out)
      expect(files.some((file) => /[\\/]packages[\\/]core[\\/]dist[\\/]/.test(file))).toBe(true)
      const heavy = ['pg', 'mysql2', 'better-sqlite3', 'ajv', 'tar', 'execa', 'yaml']
      expect(packagesOf(files).filter((name) => heavy.includes(name))).toEqual([])
      // each loads when a connection of its engine is opened, or a zstd archive's members are checked
      const lazy =
        /[\\/]core[\\/]dist[\\/](db[\\/]sql[\\/](mysql|postgres|pg-copy|sqlite)|archive[\\/]decode-thread)\.js$/
      expect(files.filter((file) => lazy.test(file))).toEqual([])
    },
  )
})

describe('releases cannot ship a stale manifest', () => {
  it('every published package builds in prepack; oclif packages regenerate their manifest and ship it', () => {
    // core's prepack is its build: the compiled code, the manifest validator generated from the schema and the
    // one-file yaml (dist/vendor/yaml.cjs) and the ES-module @oclif/core (dist/vendor/oclif/) bundled from the installed
    // packages
    const core = pkg('packages/core').scripts
    expect(core.prepack).toBe(
      'tsc -b && node scripts/manifest-validator.mjs && node scripts/yaml-bundle.mjs && node scripts/oclif-bundle.mjs',
    )
    expect(core.prepack).toBe(core.build)
    for (const dir of ['apps/bk', ...PLUGINS.map((plugin) => `packages/plugin-${plugin}`)]) {
      const json = pkg(dir)
      expect(json.scripts.prepack, dir).toMatch(/^tsc -b && oclif manifest( && oclif readme --no-aliases)?$/)
      expect(json.files, dir).toContain('oclif.manifest.json')
    }
    expect(pkg('apps/bk').scripts.prepack).toContain('oclif readme')
  })

  it('pnpm release versions, rebuilds without the cache, then publishes', () => {
    expect(pkg('.').scripts.release).toBe(
      'changeset version && pnpm install --lockfile-only && turbo run build --force && changeset publish',
    )
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    expect(readme).toContain('## Releasing')
    expect(readme).toContain('pnpm release')
  })

  it('bin/run.js never lets oclif auto-transpile with ts-node, even with NODE_ENV=development', async () => {
    const result = await runBk(['--version'], {env: {NODE_ENV: 'development', DEBUG: 'oclif:config:ts-path'}})
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toMatch(/^@bkcli\/cli\/\d+\.\d+\.\d+ /)
    expect(result.stderr).toContain('because enableAutoTranspile is explicitly set to false')
    expect(result.stderr).not.toMatch(/registering (ts-node|tsx)/)
  })
})
