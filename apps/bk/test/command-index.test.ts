// The command index (src/command-index.ts): a command run of one of bk's application plugins starts oclif with bk
// and that plugin only, once a run that loaded every plugin has recorded which plugin answers to which command.
// Proven here with oclif's own debug lines (which plugins' manifests it read): the second run reads two, its output
// is oclif's with every plugin loaded, and a change of the plugin set or of a manifest, a linked plugin, a missing
// plugin or a bk.yml that names another plugin's flags is answered as the full start answers it.

import {cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {commandId} from '../src/command-index.js'
import {moduleProbe} from './module-probe.js'

const root = repoRoot()

/** Fixed directories: the index's key covers BK_* variables, so every run of one test shares them. */
function dirs(dataDir?: string) {
  return {
    BK_CACHE_DIR: tempDir('bk-index-cache-'),
    BK_CONFIG_DIR: tempDir('bk-index-config-'),
    ...(dataDir ? {BK_DATA_DIR: dataDir} : {}),
  }
}

const entries = (env: {BK_CACHE_DIR: string}) => {
  try {
    return readdirSync(join(env.BK_CACHE_DIR, 'commands')).filter((name) => name.endsWith('.json'))
  } catch {
    return []
  }
}

/** One run; `manifests` names the plugins whose oclif.manifest.json oclif read (its debug lines, taken off stderr). */
async function traced(args: string[], env: Record<string, string>, cwd?: string) {
  const result = await runBk(args, {env: {...env, DEBUG: 'oclif:config*'}, cwd})
  const lines = result.stderr.split('\n')
  const manifests = lines.flatMap((line) => /oclif:config:(\S+) using manifest from /.exec(line)?.[1] ?? []).sort()
  // what bk itself wrote: every line but the debug lines (some run over several indented lines)
  const own = lines.filter((line) => line && !/^\S+ oclif:|^ {2}|^[\]}]/.test(line))
  const stderr = own.map((line) => `${line}\n`).join('')
  return {...result, manifests, stderr}
}

/** The full start: the index neither read nor written. */
const full = (args: string[], env: Record<string, string>, cwd?: string) =>
  runBk(args, {env: {...env, BK_STARTUP_CACHE: 'off'}, cwd})

/** A data dir as `bk plugins install` leaves it, its plugins linked from the workspace. */
function dataDir(plugins: string[]) {
  const data = tempDir('bk-index-data-')
  mkdirSync(join(data, 'node_modules', '@bkcli'), {recursive: true})
  for (const plugin of plugins) {
    symlinkSync(join(root, 'packages', `plugin-${plugin}`), join(data, 'node_modules', '@bkcli', `plugin-${plugin}`))
  }
  writeFileSync(
    join(data, 'package.json'),
    JSON.stringify({
      private: true,
      oclif: {schema: 1, plugins: plugins.map((p) => ({name: `@bkcli/plugin-${p}`, type: 'user'}))},
      dependencies: Object.fromEntries(plugins.map((p) => [`@bkcli/plugin-${p}`, '^0.1.0'])),
    }),
  )
  return data
}

const CORE = ['@oclif/plugin-autocomplete', '@oclif/plugin-help', '@oclif/plugin-plugins']
const FIVE = ['aegir', 'iotstack', 'roundup', 'trac', 'zodb'].map((p) => `@bkcli/plugin-${p}`)

describe('the command id oclif reads from the arguments', () => {
  const ids = ['trac:list', 'trac:backup', 'roundup:backup', 'status', 'schedule:install']
  const withArgs = new Set(['trac:backup', 'roundup:backup', 'status'])
  it.each([
    [['roundup', 'backup', '/srv/tracker', '-q'], 'roundup:backup'],
    [['trac', 'list', '--location', '/x'], 'trac:list'],
    [['trac', 'backup', 'list'], 'trac:backup'],
    [['roundup:backup', '/srv/tracker'], 'roundup:backup'],
    [['status', 'trac'], 'status'],
    [['nosuch', 'thing', '--json'], 'nosuch:thing'],
    [['trac'], 'trac'],
  ])('%j → %s', (argv, id) => {
    expect(commandId(argv, ids, withArgs)).toBe(id)
  })
})

describe('bk command runs with the command index', {timeout: 240_000}, () => {
  it.each([[['roundup', 'list']], [['trac', 'list', '--json']], [['iotstack', 'list']]])(
    'bk %j: the first run loads every plugin and records; the next loads bk and the plugin, same output',
    async (args) => {
      const env = dirs(join(root, '.bk-dev'))
      const argv = [...args, '--location', tempDir('bk-index-empty-')]
      const expected = await full(argv, env)
      expect(expected.exitCode).toBe(0)
      expect(entries(env)).toEqual([])

      const first = await traced(argv, env)
      expect(first.manifests).toEqual(['@bkcli/cli', ...FIVE, ...CORE].sort())
      expect(entries(env)).toHaveLength(1)
      const second = await traced(argv, env)
      expect(second.manifests).toEqual(['@bkcli/cli', `@bkcli/plugin-${args[0]}`])
      for (const run of [first, second]) {
        expect(run.stdout).toBe(expected.stdout)
        expect(run.stderr).toBe(expected.stderr)
        expect(run.exitCode).toBe(0)
      }
      expect(entries(env)).toHaveLength(1)
    },
  )

  it('a failing command and an unknown flag fail as they do with every plugin loaded', async () => {
    const env = dirs(join(root, '.bk-dev'))
    await runBk(['trac', 'list', '--location', tempDir('bk-index-empty-')], {env})
    for (const argv of [
      ['roundup', 'backup', '/nonexistent', '-q'],
      ['iotstack', 'backup', '/nonexistent', '--json'],
      ['zodb', 'list', '--no-such-flag'],
    ]) {
      const expected = await full(argv, env)
      const got = await traced(argv, env)
      expect(got.manifests, argv.join(' ')).toHaveLength(2)
      expect(got.stdout, argv.join(' ')).toBe(expected.stdout)
      expect(got.stderr, argv.join(' ')).toBe(expected.stderr)
      expect(got.exitCode, argv.join(' ')).toBe(expected.exitCode)
      expect(got.exitCode).not.toBe(0)
    }
  })

  it('a run from the index does not import bk’s init hook (it serves help and the recordings only)', async () => {
    const env = dirs(join(root, '.bk-dev'))
    const probe = moduleProbe()
    const argv = ['zodb', 'list', '--location', tempDir('bk-index-empty-')]
    const loaded = async () => {
      const out = probe.out()
      const result = await runBk(argv, {env: {...env, NODE_OPTIONS: probe.nodeOptions, MODULE_PROBE_OUT: out}})
      expect(result.exitCode).toBe(0)
      const files = probe.loaded(out)
      expect(files.some((file) => /plugin-zodb[\\/]dist[\\/]commands[\\/]zodb[\\/]list\.js$/.test(file))).toBe(true)
      return files.filter((file) => /apps[\\/]bk[\\/]dist[\\/]hooks[\\/]init\.js$/.test(file))
    }
    expect(await loaded()).toHaveLength(1) // the full start runs it (and so records the index)
    expect(await loaded()).toEqual([])
  })

  it('help, bk’s own commands and oclif’s plugin commands load every plugin, as before', async () => {
    const env = dirs(join(root, '.bk-dev'))
    await runBk(['trac', 'list', '--location', tempDir('bk-index-empty-')], {env})
    for (const argv of [['trac', 'list', '--help'], ['plugins'], ['status', '--json']]) {
      const got = await traced(argv, env)
      expect(got.manifests, argv.join(' ')).toHaveLength(9)
    }
  })

  it('a plugin installed or removed after the recording: the full start answers, then records the new set', async () => {
    const data = dataDir(['trac'])
    const env = dirs(data)
    const location = tempDir('bk-index-empty-')
    await runBk(['trac', 'list', '--location', location], {env})
    expect((await traced(['trac', 'list', '--location', location], env)).manifests).toHaveLength(2)

    // zodb is not installed: its command says how to install it, whatever the index holds
    const missing = await traced(['zodb', 'list', '--location', location], env)
    expect(missing.exitCode).toBe(127)
    expect(missing.stderr).toBe(
      "bk: 'zodb list' is provided by plugin @bkcli/plugin-zodb, which is not installed. Run: bk plugins install zodb\n",
    )

    // installed now (the data dir's package.json changed): the next run loads every plugin, the one after two
    writeFileSync(
      join(data, 'package.json'),
      JSON.stringify({
        private: true,
        oclif: {schema: 1, plugins: ['trac', 'zodb'].map((p) => ({name: `@bkcli/plugin-${p}`, type: 'user'}))},
      }),
    )
    symlinkSync(join(root, 'packages', 'plugin-zodb'), join(data, 'node_modules', '@bkcli', 'plugin-zodb'))
    const after = await traced(['zodb', 'list', '--location', location], env)
    expect(after.exitCode).toBe(0)
    expect(after.stdout).toBe(`No backups in ${location}.\n`)
    expect(after.manifests).toEqual(['@bkcli/cli', '@bkcli/plugin-trac', '@bkcli/plugin-zodb', ...CORE].sort())
    expect((await traced(['zodb', 'list', '--location', location], env)).manifests).toHaveLength(2)

    // and removed again: trac's command is not found from a stale index
    writeFileSync(
      join(data, 'package.json'),
      JSON.stringify({private: true, oclif: {schema: 1, plugins: [{name: '@bkcli/plugin-zodb', type: 'user'}]}}),
    )
    const removed = await traced(['trac', 'list', '--location', location], env)
    expect(removed.exitCode).toBe(127)
    expect(removed.stderr).toContain('bk plugins install trac')
  })

  it('a plugin upgraded in place (its manifest changed): the stale index is not used', async () => {
    // A copy of the trac plugin's package.json and manifest, its compiled code linked from the workspace.
    const data = tempDir('bk-index-data-')
    const copy = join(data, 'node_modules', '@bkcli', 'plugin-trac')
    mkdirSync(copy, {recursive: true})
    for (const file of ['package.json', 'oclif.manifest.json'])
      cpSync(join(root, 'packages/plugin-trac', file), join(copy, file))
    symlinkSync(join(root, 'packages/plugin-trac/dist'), join(copy, 'dist'))
    symlinkSync(join(root, 'packages/plugin-trac/node_modules'), join(copy, 'node_modules'))
    writeFileSync(
      join(data, 'package.json'),
      JSON.stringify({private: true, oclif: {schema: 1, plugins: [{name: '@bkcli/plugin-trac', type: 'user'}]}}),
    )
    const env = dirs(data)
    const location = tempDir('bk-index-empty-')
    const argv = ['trac', 'list', '--location', location]
    expect((await traced(argv, env)).manifests).toHaveLength(5)
    const fast = await traced(argv, env)
    expect(fast.manifests).toHaveLength(2)
    expect(fast.stdout).toBe(`No backups in ${location}.\n`)

    // the upgrade drops `trac list`: oclif no longer knows it, and neither does bk
    const file = join(copy, 'oclif.manifest.json')
    const manifest = JSON.parse(readFileSync(file, 'utf8'))
    delete manifest.commands['trac:list']
    writeFileSync(file, JSON.stringify(manifest))
    const expected = await full(argv, env)
    expect(expected.exitCode).not.toBe(0)
    const after = await traced(argv, env)
    expect(after.manifests).toHaveLength(5)
    expect(after.exitCode).toBe(expected.exitCode)
    expect(after.stderr).toBe(expected.stderr)
    expect(after.stdout).toBe(expected.stdout)
  })

  it('a linked plugin (bk plugins link): nothing is recorded, every run loads every plugin', async () => {
    const data = tempDir('bk-index-data-')
    writeFileSync(
      join(data, 'package.json'),
      JSON.stringify({
        private: true,
        oclif: {
          schema: 1,
          plugins: [{name: '@bkcli/plugin-trac', type: 'link', root: join(root, 'packages/plugin-trac')}],
        },
      }),
    )
    const env = dirs(data)
    const argv = ['trac', 'list', '--location', tempDir('bk-index-empty-')]
    for (let i = 0; i < 2; i++) {
      const run = await traced(argv, env)
      expect(run.exitCode).toBe(0)
      expect(run.manifests).toHaveLength(5)
    }
    expect(entries(env)).toEqual([])
  })

  it('an index of another shape (hand-edited, or damaged yet still JSON): the full start answers, and records again', async () => {
    const env = dirs(join(root, '.bk-dev'))
    const location = tempDir('bk-index-empty-')
    const argv = ['trac', 'list', '--location', location]
    await runBk(argv, {env})
    const [name] = entries(env)
    const file = join(env.BK_CACHE_DIR, 'commands', name as string)
    const good = JSON.parse(readFileSync(file, 'utf8'))
    for (const damaged of [
      {...good, versionFlags: undefined},
      {...good, plugins: null},
      {...good, owners: 'trac:list'},
      {...good, helpFlags: 7},
    ]) {
      writeFileSync(file, JSON.stringify(damaged), {mode: 0o600})
      const run = await traced(argv, env)
      expect(run.stderr).toBe('')
      expect(run.stdout).toBe(`No backups in ${location}.\n`)
      expect(run.exitCode).toBe(0)
      expect(run.manifests).toHaveLength(9)
      // written again by that run (oclif loads the plugins in no fixed order: the lists' order may differ)
      const sorted = (e: {files: string[][]; withArgs: string[]}) => ({
        ...e,
        files: [...e.files].sort(),
        withArgs: [...e.withArgs].sort(),
      })
      expect(sorted(JSON.parse(readFileSync(file, 'utf8')))).toEqual(sorted(good))
    }
  })

  it('a bk.yml is checked against every plugin, also when bk started with one', async () => {
    const env = dirs(join(root, '.bk-dev'))
    const cwd = tempDir('bk-index-cwd-')
    const location = tempDir('bk-index-empty-')
    const argv = ['roundup', 'list', '--location', location]
    await runBk(argv, {env, cwd})
    // blob-timestamps is a flag of zodb's commands only; a zodb section names another plugin
    writeFileSync(join(cwd, 'bk.yml'), 'core:\n  blob-timestamps: true\nzodb:\n  datafs: /srv/Data.fs\n')
    const ok = await traced(argv, env, cwd)
    expect(ok.manifests).toContain('@bkcli/plugin-zodb') // loaded once the file was found
    expect(ok.stdout).toBe(`No backups in ${location}.\n`)
    expect(ok.exitCode).toBe(0)
    writeFileSync(join(cwd, 'bk.yml'), 'core:\n  no-such-key: 1\n')
    const expected = await full(argv, env, cwd)
    expect(expected.stderr).toContain("unknown key 'core.no-such-key' (known: ")
    const bad = await traced(argv, env, cwd)
    expect(bad.stderr).toBe(expected.stderr)
    expect(bad.exitCode).toBe(expected.exitCode)
  })
})
