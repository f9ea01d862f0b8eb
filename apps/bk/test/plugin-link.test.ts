// `bk plugins link <path>` of a plugin checkout (a third-party plugin built on @bkcli/core): its commands run, with
// the start-up cache on and off; unlink removes them; a checkout that is not built is refused with one line; a data
// folder whose package.json has no `oclif` key is taken as listing no plugins (and only the subcommands that write
// the list give it one).

import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {repoRoot, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {oclifBundleEntry} from '../src/startup-cache.js'
import {build, checkout, NAME} from './link-fixture.js'

const root = repoRoot()

/** Fixed folders for one test (the start-up cache's key covers BK_* variables). */
function dirs() {
  const data = tempDir('bk-link-data-')
  return {BK_DATA_DIR: data, BK_CACHE_DIR: tempDir('bk-link-cache-'), BK_CONFIG_DIR: tempDir('bk-link-config-')}
}

const CACHE_OFF = {BK_STARTUP_CACHE: 'off'}
const listed = (data: string) =>
  (JSON.parse(readFileSync(join(data, 'package.json'), 'utf8')) as {oclif: {plugins: Array<{name: string}>}}).oclif
    .plugins

describe('bk plugins link', {timeout: 240_000}, () => {
  it('runs a linked checkout’s command with the start-up cache on and off; unlink removes it', async () => {
    const plugin = checkout()
    const env = dirs()
    // entries recorded before the link (help, and a command run's index) must not answer after it
    for (let i = 0; i < 2; i++) expect((await runBk(['--help'], {env})).exitCode).toBe(0)

    const link = await runBk(['plugins', 'link', plugin], {env})
    expect(link.exitCode, link.stderr).toBe(0)
    expect(listed(env.BK_DATA_DIR)).toEqual([{name: NAME, root: plugin, type: 'link'}])

    for (const extra of [{}, {}, CACHE_OFF]) {
      const run = await runBk(['hello', 'world', '--name', 'bk'], {env: {...env, ...extra}})
      expect(run.stderr).toBe('')
      expect(run.stdout).toBe('hello bk\n')
      expect(run.exitCode).toBe(0)
    }
    const help = await runBk(['--help'], {env})
    expect(help.stdout).toBe((await runBk(['--help'], {env: {...env, ...CACHE_OFF}})).stdout)
    expect(help.stdout).toMatch(/^ {2}hello +Greets\.$/m)

    const inspect = await runBk(['plugins', 'inspect', NAME], {env})
    expect(inspect.exitCode, inspect.stderr).toBe(0)
    expect(inspect.stdout).toContain(`location ${plugin}`)
    expect(inspect.stdout).toContain('hello:world')

    const unlink = await runBk(['plugins', 'unlink', NAME], {env})
    expect(unlink.exitCode, unlink.stderr).toBe(0)
    expect(listed(env.BK_DATA_DIR)).toEqual([])
    for (const extra of [{}, CACHE_OFF]) {
      const gone = await runBk(['hello', 'world'], {env: {...env, ...extra}})
      expect(gone.exitCode).toBe(2)
      expect(gone.stderr).toBe("bk: command hello world not found; run 'bk --help' for the list\n")
    }
    const after = await runBk(['--help'], {env})
    expect(after.stdout).not.toMatch(/^ {2}hello /m)
  })

  it('refuses a checkout that is not built, with one line and nothing written; names it when cleaned later', async () => {
    const plugin = checkout(false)
    const env = dirs()
    const problem = `bk: plugin ${NAME} in ${plugin} is not built (no ./dist/commands); build it (npm install, then npm run build) and run 'bk plugins link ${plugin}' again\n`
    const refused = await runBk(['plugins', 'link', plugin], {env})
    expect(refused.stderr).toBe(problem)
    expect(refused.exitCode).toBe(2)
    expect(existsSync(join(env.BK_DATA_DIR, 'package.json'))).toBe(false)

    build(plugin)
    expect((await runBk(['plugins', 'link', '--no-install', plugin], {env})).exitCode).toBe(0)
    expect((await runBk(['hello', 'world'], {env})).stdout).toBe('hello world\n')
    rmSync(join(plugin, 'dist'), {recursive: true})
    const cleaned = await runBk(['hello', 'world'], {env})
    expect(cleaned.stderr).toBe(problem)
    expect(cleaned.exitCode).toBe(2)
  })

  it('takes a data folder package.json without an `oclif` key as listing no plugins', async () => {
    const plugin = checkout()
    const env = dirs()
    const file = join(env.BK_DATA_DIR, 'package.json')
    const bare = JSON.stringify({private: true, dependencies: {'left-pad': '1.3.0'}})
    writeFileSync(file, bare)
    const list = await runBk(['plugins'], {env})
    expect(list.stdout).toBe('No plugins installed.\n')
    expect(readFileSync(file, 'utf8')).toBe(bare) // the bare list reads it, and leaves it as it was
    const inspect = await runBk(['plugins', 'inspect', NAME], {env})
    expect(inspect.stderr).toContain(`${NAME} not installed`)
    expect(inspect.stderr).not.toContain('TypeError')
    expect(readFileSync(file, 'utf8')).toBe(bare) // so does inspect, which writes nothing

    const link = await runBk(['plugins', 'link', plugin], {env})
    expect(link.stderr).not.toContain('TypeError')
    expect(link.exitCode, link.stderr).toBe(0)
    const pjson = JSON.parse(readFileSync(file, 'utf8'))
    expect(pjson.dependencies).toEqual({'left-pad': '1.3.0'})
    expect(pjson.oclif.plugins).toEqual([{name: NAME, root: plugin, type: 'link'}])
    expect((await runBk(['hello', 'world'], {env})).stdout).toBe('hello world\n')

    const unlink = await runBk(['plugins', 'unlink', NAME], {env})
    expect(unlink.exitCode, unlink.stderr).toBe(0)
    expect(listed(env.BK_DATA_DIR)).toEqual([])

    // unlinking from a bare file: @oclif/plugin-plugins' own answer for a plugin it does not list, not a crash
    writeFileSync(file, bare)
    const absent = await runBk(['plugins', 'unlink', NAME], {env})
    expect(absent.stderr).toContain(`Error: ${NAME} is not installed`)
    expect(absent.stderr).not.toContain('TypeError')
    expect(absent.exitCode).toBe(2)
  })
})

describe('the start-up cache finds the oclif bk runs', () => {
  it('through @bkcli/core’s exports, as an install from a registry resolves it', () => {
    const runJs = join(root, 'apps', 'bk', 'bin', 'run.js')
    const entry = oclifBundleEntry(createRequire(runJs))
    // Node's resolution follows pnpm's link to the workspace package
    expect(entry).toBe(join(root, 'packages', 'core', 'dist', 'vendor', 'oclif', 'index.js'))
    expect(readFileSync(entry, 'utf8')).toContain('@oclif/core')
  })
})
