import {join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {KNOWN_PLUGINS, missingPluginHint} from '../src/plugins.js'

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
    expect(result.stdout).not.toMatch(/^\s+trac\s/m)
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
    expect(help.stdout).toMatch(/^\s+trac\s+\S/m)
    expect(help.stdout).not.toMatch(/^\s+zodb\s/m)
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
