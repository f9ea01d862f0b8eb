// The start-up cache (src/startup-cache.ts): `bk --help`, `bk --version` and `bk <topic> <command> --help` replay
// the bytes oclif wrote last time while every file they came from is unchanged. Proven here: a replay is byte for
// byte oclif's own rendering (BK_STARTUP_CACHE=off), loads no oclif, and a change of the plugin set or of a manifest
// is never answered from a stale entry.

import {spawnSync} from 'node:child_process'
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {isCacheable} from '../src/startup-cache.js'
import {coreFiles, moduleProbe, packagesOf} from './module-probe.js'

const root = repoRoot()
const probe = moduleProbe()
/** What a command's start-up must not load for help or version: drivers, validators, archivers, process runners. */
const HEAVY = ['pg', 'mysql2', 'better-sqlite3', 'ajv', 'tar', 'execa', 'yaml']

/** Fixed directories: the cache key covers BK_* variables, so every run of one test shares them. */
function dirs(dataDir?: string) {
  return {
    BK_CACHE_DIR: tempDir('bk-startup-cache-'),
    BK_CONFIG_DIR: tempDir('bk-startup-config-'),
    ...(dataDir ? {BK_DATA_DIR: dataDir} : {}),
  }
}

const entries = (env: {BK_CACHE_DIR: string}) => {
  try {
    return readdirSync(join(env.BK_CACHE_DIR, 'startup')).filter((name) => name.endsWith('.json'))
  } catch {
    return []
  }
}

/** oclif's own rendering: the cache neither read nor written. */
const oclif = (args: string[], env: Record<string, string>) => runBk(args, {env: {...env, BK_STARTUP_CACHE: 'off'}})

/** One run with the module probe on; returns the result and the packages and workspace files it loaded. */
async function probed(args: string[], env: Record<string, string>) {
  const out = probe.out()
  const result = await runBk(args, {env: {...env, NODE_OPTIONS: probe.nodeOptions, MODULE_PROBE_OUT: out}})
  const files = probe.loaded(out)
  const core = coreFiles(files)
  return {result, packages: packagesOf(files), core}
}

describe('which argument lists are cached', () => {
  it('help and version only, never an argument list that runs a command', () => {
    for (const args of [[], ['--help'], ['--version'], ['trac', '--help'], ['trac', 'list', '--help']]) {
      expect(isCacheable(args), args.join(' ')).toBe(true)
    }
    expect(isCacheable(['help', 'zodb', 'verify'])).toBe(true)
    expect(isCacheable(['trac', 'list'])).toBe(false)
    expect(isCacheable(['trac', 'list', '/srv/trac', '--help'])).toBe(false)
    expect(isCacheable(['trac', 'list', '--json', '--help'])).toBe(false)
    expect(isCacheable(['--version', '--help'])).toBe(false)
    expect(isCacheable(['-h'])).toBe(false)
    expect(isCacheable(['trac', 'backup', '--', '--help'])).toBe(false)
  })
})

describe('bk start-up cache', {timeout: 240_000}, () => {
  it.each([
    [[]],
    [['--help']],
    [['--version']],
    [['trac', 'list', '--help']],
    [['zodb', 'verify', '--help']],
    [['roundup', '--help']],
    [['help', 'aegir', 'backup']],
  ])('bk %j: oclif renders and records it once, then the replay is the same bytes and loads no oclif', async (args) => {
    const env = dirs()
    const expected = await oclif(args, env)
    expect(expected.exitCode).toBe(0)
    expect(expected.stderr).toBe('')
    expect(expected.stdout.length).toBeGreaterThan(20)
    expect(entries(env)).toEqual([])

    const first = await probed(args, env)
    expect(first.result.stdout).toBe(expected.stdout)
    expect(first.result.stderr).toBe('')
    expect(first.result.exitCode).toBe(0)
    expect(first.packages).toContain('@oclif/core')
    expect(entries(env)).toHaveLength(1)

    const second = await probed(args, env)
    expect(second.result.stdout).toBe(expected.stdout)
    expect(second.result.stderr).toBe('')
    expect(second.result.exitCode).toBe(0)
    expect(second.packages).toEqual([])
    expect(entries(env)).toHaveLength(1)

    // neither path loads a driver, ajv, tar, execa or yaml, nor anything of @bkcli/core
    for (const run of [first, second]) {
      expect(run.packages.filter((name) => HEAVY.includes(name))).toEqual([])
      expect(run.core).toEqual([])
    }
  })

  it('records nothing when oclif answers with an error or a hint on stderr', async () => {
    const env = dirs(tempDir('bk-nodata-'))
    const missing = await runBk(['trac', 'list', '--help'], {env})
    expect(missing.exitCode).toBe(127)
    expect(missing.stderr).toContain('bk plugins install trac')
    const unknown = await runBk(['nosuch', '--help'], {env})
    expect(unknown.exitCode).not.toBe(0)
    expect(entries(env)).toEqual([])
  })

  it('a plugin installed or removed after the recording: bk --help is oclif’s rendering of the new set', async () => {
    // A data dir as `bk plugins install` leaves it: package.json lists the user plugins, node_modules holds them.
    const data = tempDir('bk-startup-data-')
    mkdirSync(join(data, 'node_modules', '@bkcli'), {recursive: true})
    for (const plugin of ['trac', 'zodb']) {
      symlinkSync(join(root, 'packages', `plugin-${plugin}`), join(data, 'node_modules', '@bkcli', `plugin-${plugin}`))
    }
    const install = (plugins: string[]) =>
      writeFileSync(
        join(data, 'package.json'),
        JSON.stringify({
          private: true,
          oclif: {schema: 1, plugins: plugins.map((p) => ({name: `@bkcli/plugin-${p}`, type: 'user'}))},
          dependencies: Object.fromEntries(plugins.map((p) => [`@bkcli/plugin-${p}`, '^0.1.0'])),
        }),
      )
    const env = dirs(data)
    const sets: string[] = []
    let previous = ''
    for (const plugins of [['trac'], ['trac'], ['trac', 'zodb'], ['trac', 'zodb'], ['zodb'], ['trac']]) {
      install(plugins)
      const expected = await oclif(['--help'], env)
      const got = await probed(['--help'], env)
      expect(got.result.stdout, plugins.join('+')).toBe(expected.stdout)
      expect(got.result.stderr).toBe('')
      // the same set as before: replayed (no oclif); a new set: rendered by oclif again
      const replayed = !got.packages.includes('@oclif/core')
      expect(replayed, plugins.join('+')).toBe(plugins.join('+') === previous)
      previous = plugins.join('+')
      for (const plugin of ['trac', 'zodb']) {
        const line = plugins.includes(plugin) ? `  ${plugin}      installed (` : `  ${plugin}      not installed:`
        expect(got.result.stdout).toContain(line)
      }
      sets.push(got.result.stdout)
      // a plugin's command help follows the set too: the hint once it is gone, its help while it is there
      const zodb = await runBk(['zodb', 'verify', '--help'], {env})
      expect(zodb.exitCode).toBe(plugins.includes('zodb') ? 0 : 127)
    }
    expect(new Set(sets).size).toBe(3)
  })

  it('a plugin upgraded in place (its manifest changed): the replay notices and oclif renders the new text', async () => {
    // A copy of the trac plugin (package.json, manifest, main) whose manifest is then edited, as an upgrade would.
    const data = tempDir('bk-startup-data-')
    const copy = join(data, 'node_modules', '@bkcli', 'plugin-trac')
    mkdirSync(join(copy, 'dist'), {recursive: true})
    for (const file of ['package.json', 'oclif.manifest.json', 'dist/index.js']) {
      cpSync(join(root, 'packages/plugin-trac', file), join(copy, file))
    }
    writeFileSync(
      join(data, 'package.json'),
      JSON.stringify({private: true, oclif: {schema: 1, plugins: [{name: '@bkcli/plugin-trac', type: 'user'}]}}),
    )
    const env = dirs(data)
    const args = ['trac', 'list', '--help']
    const before = await probed(args, env)
    expect(before.packages).toContain('@oclif/core')
    const again = await probed(args, env)
    expect(again.packages).toEqual([])
    expect(again.result.stdout).toBe(before.result.stdout)

    const file = join(copy, 'oclif.manifest.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8'))
    manifest.commands['trac:list'].summary = 'List the backups (upgraded text).'
    manifest.commands['trac:list'].description = 'List the backups (upgraded text).'
    writeFileSync(file, JSON.stringify(manifest))
    const expected = await oclif(args, env)
    expect(expected.stdout).toContain('upgraded text')
    const after = await probed(args, env)
    expect(after.packages).toContain('@oclif/core')
    expect(after.result.stdout).toBe(expected.stdout)
    const replay = await probed(args, env)
    expect(replay.packages).toEqual([])
    expect(replay.result.stdout).toBe(expected.stdout)
  })

  it('the key takes no secret from the environment, not even hashed: another password replays the same entry', async () => {
    const env = dirs()
    const first = await probed(['--version'], {...env, BK_DB_PASSWORD: 'first-secret'})
    expect(first.packages).toContain('@oclif/core')
    const second = await probed(['--version'], {...env, BK_DB_PASSWORD: 'second-secret'})
    expect(second.packages).toEqual([])
    expect(second.result.stdout).toBe(first.result.stdout)
    // while a variable oclif reads (here the config folder, where a theme.json would be) is part of it
    const other = await probed(['--version'], {...env, BK_CONFIG_DIR: tempDir('bk-startup-config-')})
    expect(other.packages).toContain('@oclif/core')
  })

  it('a damaged entry is ignored and rewritten', async () => {
    const env = dirs()
    const expected = await oclif(['--version'], env)
    await runBk(['--version'], {env})
    const [name] = entries(env)
    const entry = join(env.BK_CACHE_DIR, 'startup', name ?? '')
    writeFileSync(entry, '{"format":1,"files":[')
    expect((await runBk(['--version'], {env})).stdout).toBe(expected.stdout)
    expect(JSON.parse(readFileSync(entry, 'utf8')).format).toBe(1)
  })

  it('an entry another user could have written is never replayed; entries are 0600 in a 0700 folder', async () => {
    const env = dirs()
    const expected = await oclif(['--version'], env)
    await runBk(['--version'], {env})
    const [name] = entries(env)
    const folder = join(env.BK_CACHE_DIR, 'startup')
    const entry = join(folder, name ?? '')
    expect(statSync(entry).mode & 0o777).toBe(0o600)
    expect(statSync(folder).mode & 0o777).toBe(0o700)
    // a forged entry: checked against a file that exists and is unchanged, printing what its author chose
    const forged = JSON.stringify({
      format: 1,
      files: [[entry.replace(/\.json$/, '.bait'), null]],
      stdout: Buffer.from('\u001b]0;owned\u0007forged\n').toString('base64'),
    })
    writeFileSync(entry, forged)
    chmodSync(entry, 0o600)
    const own = await runBk(['--version'], {env})
    expect(own.stdout).toContain('forged') // the same user's file is trusted (the user could run anything anyway)
    for (const change of [() => chmodSync(entry, 0o666), () => chmodSync(entry, 0o620)]) {
      writeFileSync(entry, forged)
      chmodSync(entry, 0o600)
      change()
      const result = await runBk(['--version'], {env})
      expect(result.stdout).toBe(expected.stdout)
      expect(result.exitCode).toBe(0)
    }
    const uid = process.getuid?.()
    if (uid !== undefined) {
      // another user's file (as root: owned by nobody; as a user: owned by someone not root may not be possible)
      const other = uid === 0 ? 65534 : undefined
      if (other !== undefined) {
        writeFileSync(entry, forged)
        chmodSync(entry, 0o600)
        chownSync(entry, other, other)
        const result = await runBk(['--version'], {env})
        expect(result.stdout).toBe(expected.stdout)
        expect(result.exitCode).toBe(0)
      }
    }
  })

  it('a full cache folder: help is printed, exit 0, and no partial entry is left behind', async (context) => {
    const full = tempDir('bk-startup-full-')
    // a 16 KiB tmpfs filled up: needs root and mount(8); skipped elsewhere
    if (process.getuid?.() !== 0 || spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', full]).status !== 0) {
      context.skip()
    }
    try {
      spawnSync('dd', ['if=/dev/zero', `of=${join(full, 'fill')}`, 'bs=1k', 'count=64'])
      const env = {...dirs(), BK_CACHE_DIR: full}
      const expected = await oclif(['--help'], env)
      for (let i = 0; i < 2; i++) {
        const result = await runBk(['--help'], {env})
        expect(result.stdout).toBe(expected.stdout)
        expect(result.exitCode).toBe(0)
      }
      expect(readdirSync(join(full, 'startup'))).toEqual([])
    } finally {
      spawnSync('umount', [full])
    }
  })
})
