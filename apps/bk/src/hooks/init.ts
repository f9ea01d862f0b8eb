import type {Hook} from '@bkcli/core/oclif'
import {noteRunConfig} from '../command-index.js'
import {linkPath, unbuiltPluginProblem} from '../plugin-link.js'
import {ensurePluginList, pluginsSubcommand, WRITES_PLUGIN_LIST} from '../plugin-list.js'
import {missingPluginHint} from '../plugins.js'
import {noteConfig} from '../startup-cache.js'

/**
 * `bk zodb --help`, `bk zodb backup --help` and `bk help zodb backup` with the zodb plugin not installed: oclif's
 * help would answer "Command zodb not found"; say how to install it instead, like command_not_found does (exit 127).
 * It also hands the loaded config to the start-up cache, which records which files `bk --help` was rendered from,
 * and to the command index, which records which plugin answers to which command. Before the `bk plugins` subcommands
 * that write the plugin list (install, link, uninstall, …; not `inspect`) it gives a data folder package.json without
 * one an empty one (see ensurePluginList), and it refuses to link a plugin checkout that is not built (whose commands
 * would all be "not found").
 */
const hook: Hook<'init'> = async function ({id, argv, config}) {
  noteConfig(config)
  noteRunConfig(config)
  const subcommand = pluginsSubcommand(id, argv)
  if (subcommand && WRITES_PLUGIN_LIST.has(subcommand)) {
    await ensurePluginList(config.dataDir).catch((error: Error) => {
      process.stderr.write(
        `${config.bin}: cannot add a plugin list to ${config.dataDir}/package.json: ${error.message}\n`,
      )
      this.exit(1)
    })
    const linked = linkPath(id, argv)
    const unbuilt = linked && unbuiltPluginProblem(linked, config.bin)
    if (unbuilt) {
      process.stderr.write(`${unbuilt}\n`)
      this.exit(2)
    }
  }
  const words = id === 'help' ? argv : argv.some((a) => a === '--help' || a === '-h') ? [id ?? '', ...argv] : []
  const asked = words.filter((word) => word && !word.startsWith('-'))
  if (asked.length === 0) return
  const hint = missingPluginHint(asked.join(' '), config.plugins.keys(), config.bin)
  if (!hint) return
  process.stderr.write(`${hint}\n`)
  this.exit(127)
}

export default hook
