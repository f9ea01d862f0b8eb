#!/usr/bin/env node
import module from 'node:module'
import {fileURLToPath} from 'node:url'
import {planRun, recordIndex} from '../dist/command-index.js'
import {replay, startRecording} from '../dist/startup-cache.js'

// Node >= 22.1 keeps compiled code on disk between runs; absent on Node 20 (nothing happens).
module.enableCompileCache?.()

// When the event loop is empty the command has finished (every write flushed, every child reaped): exit there rather
// than let Node tear down the heap and the module graph of a command run, which takes longer than bare Node's whole
// exit. Nothing changes but the time: 'exit' listeners still run and the exit code is process.exitCode. Called first
// (prepended), it sees every other beforeExit listener still to come, any of which may schedule more work: with one
// there, the ordinary exit.
process.prependOnceListener('beforeExit', () => {
  if (process.listenerCount('beforeExit') === 0) process.exit()
})

const argv = process.argv.slice(2)
const runJs = fileURLToPath(import.meta.url)
// `bk --help`, `bk --version`, `bk <topic> <command> --help`: oclif's own output from last time, when every file it
// was rendered from is unchanged (see dist/startup-cache.js); otherwise oclif renders it and it is recorded.
if (!replay(argv, runJs)) {
  startRecording(argv, runJs)
  // @oclif/core's barrel (which every command imports) checks the running Node against its own engines (>=18) with
  // semver, about 15 ms of loading on each command; bk's engines (>=20) already say more, so the check can never warn.
  process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
  // the subpaths, not the '@oclif/core' barrel: help and version need neither its parser nor its Node version check.
  // @oclif/core as @bkcli/core bundles it (one ES module for each subpath over shared chunks, scripts/oclif-bundle.mjs):
  // the same copy bk's commands and plugins import, a handful of files instead of its ~65 CommonJS modules.
  const [{execute}, {settings}] = await Promise.all([
    import('@bkcli/core/oclif/execute'),
    import('@bkcli/core/oclif/settings'),
  ])
  // Always the compiled dist/: never let oclif look for a tsconfig.json and register ts-node/tsx (NODE_ENV=development,
  // linked plugins), which would slow every start and compile sources an installed package does not ship.
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url, loadOptions: await commandRunOptions()})
}

/**
 * A command of one of bk's application plugins, with the command index fresh (see dist/command-index.js): oclif's
 * config made of bk and that plugin only, loaded as oclif would load them. Otherwise (or if loading them fails)
 * undefined, and oclif loads every plugin.
 */
async function commandRunOptions() {
  const {plan, record} = planRun(argv, runJs)
  if (record) recordIndex(runJs)
  if (!plan) return undefined
  try {
    const {Plugin} = await import('@bkcli/core/oclif/config')
    const plugins = await Promise.all(
      plan.plugins.map(async (options) => {
        const plugin = new Plugin(options)
        await plugin.load()
        return plugin
      }),
    )
    // bk's init hook serves help (a hint for a plugin that is not installed) and the recordings, none of which a run
    // from the index does: oclif need not import it
    const [root] = plugins
    root.hooks = {...root.hooks, init: []}
    // the marker tells @bkcli/core's BkCommand that other plugins were left out (a bk.yml is checked against all)
    return {root: plan.root, plugins: new Map(plugins.map((p) => [p.name, p])), [Symbol.for('bkcli.somePlugins')]: true}
  } catch {
    recordIndex(runJs)
    return undefined
  }
}
