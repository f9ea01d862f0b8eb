import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {closestPlugin, KNOWN_PLUGINS, missingPluginHint, resolvePluginInstall} from '../src/plugins.js'

const TOPICS = ['trac', 'roundup', 'zodb', 'aegir', 'iotstack']

describe('bk CLI', () => {
  it('lists the five application topics in --help with the workspace plugins loaded', async () => {
    const result = await runBk(['--help'])
    expect(result.exitCode).toBe(0)
    const topics = result.stdout.split('TOPICS')[1]?.split('COMMANDS')[0] ?? ''
    for (const topic of TOPICS) expect(topics).toMatch(new RegExp(`^\\s+${topic}\\s+\\S`, 'm'))
  })

  it('lists the workspace plugins with `bk plugins`', async () => {
    const result = await runBk(['plugins', '--core'])
    expect(result.exitCode).toBe(0)
    // oclif lists a scoped plugin by its short name: '@bkcli/plugin-trac' shows as 'trac 0.1.0'.
    for (const topic of Object.keys(KNOWN_PLUGINS)) expect(result.stdout).toMatch(new RegExp(`^${topic} \\d+\\.`, 'm'))
  })

  it('names the install command when a plugin is not installed', async () => {
    const result = await runBk(['zodb', 'backup', '--location', 'x'], {plugins: false})
    expect(result.exitCode).toBe(127)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(
      "bk: 'zodb backup' is provided by plugin @bkcli/plugin-zodb, which is not installed. Run: bk plugins install zodb\n",
    )
  })

  it.each([
    [['zodb', '--help'], 'zodb'],
    [['zodb', 'backup', '--help'], 'zodb backup'],
    [['help', 'zodb', 'backup'], 'zodb backup'],
  ])('asking for help on a plugin that is not installed names the install command too (%j)', async (args, what) => {
    const result = await runBk(args, {plugins: false})
    expect(result.exitCode).toBe(127)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(
      `bk: '${what}' is provided by plugin @bkcli/plugin-zodb, which is not installed. Run: bk plugins install zodb\n`,
    )
  })

  it('still shows the plugin-management commands without any plugin', async () => {
    const result = await runBk(['--help'], {plugins: false})
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('plugins')
    const topics = result.stdout.split('TOPICS')[1]?.split('COMMANDS')[0] ?? ''
    expect(topics).not.toMatch(/^\s+trac\s/m)
  })

  it('lists the application plugins in --help, none installed', async () => {
    const result = await runBk(['--help'], {plugins: false})
    expect(result.exitCode).toBe(0)
    expect(result.stdout.split('APPLICATION PLUGINS\n')[1]).toBe(
      [
        '  trac      not installed: bk plugins install trac',
        '  roundup   not installed: bk plugins install roundup',
        '  zodb      not installed: bk plugins install zodb',
        '  aegir     not installed: bk plugins install aegir',
        '  iotstack  not installed: bk plugins install iotstack',
        '',
      ].join('\n'),
    )
  })

  it('names only the command in the hint, not its arguments', async () => {
    const result = await runBk(['trac', 'hotcopy', '/x', '/y', '--force'], {plugins: false})
    expect(result.exitCode).toBe(127)
    expect(result.stderr).toBe(
      "bk: 'trac hotcopy' is provided by plugin @bkcli/plugin-trac, which is not installed. Run: bk plugins install trac\n",
    )
  })

  it.each([
    ['tarc', 'no bk plugin named tarc; did you mean trac? (bk plugins: trac, roundup, zodb, aegir, iotstack)'],
    ['zdob', 'no bk plugin named zdob; did you mean zodb? (bk plugins: trac, roundup, zodb, aegir, iotstack)'],
    [
      'git+ssh://git@example.com/x/y.git',
      'install plugins by package name from the registry; for a local checkout use: bk plugins link <path>',
    ],
  ])('refuses `bk plugins install %s` with one line, installing nothing', async (name, line) => {
    const data = tempDir('bk-data-')
    const result = await runBk(['plugins', 'install', name], {plugins: false, env: {BK_DATA_DIR: data}})
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toBe(`bk: ${line}\n`)
    const list = await runBk(['plugins'], {plugins: false, env: {BK_DATA_DIR: data}})
    expect(list.stdout).toContain('No plugins installed.')
  })

  it('answers an unknown command with one line and exit 2', async () => {
    const result = await runBk(['frobnicate'], {plugins: false})
    expect(result.exitCode).toBe(2)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toContain('command frobnicate not found')
  })
})

describe('plugin discovery', () => {
  it('links, lists and uninstalls a plugin package in a fresh data dir', async () => {
    const data = tempDir('bk-data-')
    const env = {BK_DATA_DIR: data, OCLIF_DISABLE_LINKED_ESM_WARNING: '1'}
    const before = await runBk(['trac', 'hotcopy', 'env', 'dest'], {env})
    expect(before.exitCode).toBe(127)
    const link = await runBk(['plugins', 'link', '--no-install', join(repoRoot(), 'packages/plugin-trac')], {env})
    expect(link.exitCode).toBe(0)
    const list = await runBk(['plugins'], {env})
    expect(list.stdout).toMatch(/^trac \d+\.\d+\.\d+ \(link\)/m)
    const help = await runBk(['--help'], {env})
    const topics = help.stdout.split('TOPICS')[1]?.split('COMMANDS')[0] ?? ''
    expect(topics).toMatch(/^\s+trac\s+\S/m)
    expect(topics).not.toMatch(/^\s+zodb\s/m)
    const version = JSON.parse(readFileSync(join(repoRoot(), 'packages/plugin-trac/package.json'), 'utf8')).version
    const section = help.stdout.split('APPLICATION PLUGINS\n')[1] ?? ''
    expect(section).toContain(`  trac      installed (@bkcli/plugin-trac ${version})\n`)
    expect(section).toContain('  zodb      not installed: bk plugins install zodb\n')
    const uninstall = await runBk(['plugins', 'uninstall', 'trac'], {env})
    expect(uninstall.exitCode).toBe(0)
    const after = await runBk(['plugins'], {env})
    expect(after.stdout).toContain('No plugins installed.')
  })
})

describe('missingPluginHint', () => {
  it('maps a topic to its package only when that package is not loaded', () => {
    expect(missingPluginHint('trac:hotcopy', [])).toContain('bk plugins install trac')
    expect(missingPluginHint('trac:hotcopy', ['@bkcli/plugin-trac'])).toBeUndefined()
    expect(missingPluginHint('nothing:here', [])).toBeUndefined()
    expect(missingPluginHint('', [])).toBeUndefined()
  })
})

describe('plugin names', () => {
  it('the hint names at most the topic and the command', () => {
    expect(missingPluginHint('trac hotcopy /srv/trac /backup/x', [])).toBe(
      "bk: 'trac hotcopy' is provided by plugin @bkcli/plugin-trac, which is not installed. Run: bk plugins install trac",
    )
    expect(missingPluginHint('zodb:backup:--location:x', [])).toContain("'zodb backup'")
    expect(missingPluginHint('trac:/srv/trac', [])).toContain("'trac' is provided")
  })

  it('finds the closest plugin within two edits', () => {
    expect(closestPlugin('tarc')).toBe('trac')
    expect(closestPlugin('roundpu')).toBe('roundup')
    expect(closestPlugin('iotstak')).toBe('iotstack')
    expect(closestPlugin('ms')).toBeUndefined()
    expect(closestPlugin('postgres')).toBeUndefined()
  })

  it('decides what to install before anything is downloaded', async () => {
    const registry: Record<string, object> = {
      ms: {name: 'ms'},
      'bk-plugin-x': {oclif: {commands: './dist/commands'}, dependencies: {'@bkcli/core': '^0.1.0'}},
      'oclif-other': {oclif: {commands: './dist/commands'}, dependencies: {'@oclif/core': '^4'}},
    }
    const looked: string[] = []
    const lookup = async (pkg: string) => {
      looked.push(pkg)
      return registry[pkg]
    }
    expect(await resolvePluginInstall('zodb', lookup)).toEqual({install: '@bkcli/plugin-zodb'})
    expect(await resolvePluginInstall('@bkcli/plugin-trac', lookup)).toEqual({install: '@bkcli/plugin-trac'})
    expect(await resolvePluginInstall('tarc', lookup)).toEqual({
      refuse: 'no bk plugin named tarc; did you mean trac? (bk plugins: trac, roundup, zodb, aegir, iotstack)',
    })
    expect(looked).toEqual([])
    expect(await resolvePluginInstall('ms', lookup)).toEqual({
      refuse:
        'ms is not a bk plugin (no oclif commands built on @bkcli/core); nothing was installed (bk plugins: trac, roundup, zodb, aegir, iotstack)',
    })
    expect(await resolvePluginInstall('oclif-other', lookup)).toHaveProperty('refuse')
    expect(await resolvePluginInstall('bk-plugin-x', lookup)).toEqual({install: 'bk-plugin-x'})
    expect(await resolvePluginInstall('nothing-here', lookup)).toEqual({
      refuse:
        'no bk plugin named nothing-here (bk plugins: trac, roundup, zodb, aegir, iotstack); a third-party plugin needs its full package name',
    })
  })
})
