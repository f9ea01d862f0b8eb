import type {Hook} from '@bkcli/core/oclif'
import {pluginTopics, unbuiltPluginProblem} from '../plugin-link.js'
import {missingPluginHint} from '../plugins.js'

/**
 * Unknown command: if it belongs to an application plugin that is not installed, say how to install it (exit 127);
 * otherwise a plain "not found" (exit 2). One line each, whatever the terminal width. This hook must always end
 * the process: returning would exit 0.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const {id, config} = options
  const hint = missingPluginHint(id, config.plugins.keys(), config.bin)
  if (hint) {
    process.stderr.write(`${hint}\n`)
    this.exit(127)
  }
  // a command of a linked plugin checkout that has not been built (or was cleaned) since it was linked
  const topic = id.split(/[: ]/)[0] ?? ''
  for (const plugin of config.getPluginsList()) {
    if (plugin.type !== 'link' || !pluginTopics(plugin.root).includes(topic)) continue
    const unbuilt = unbuiltPluginProblem(plugin.root, config.bin)
    if (unbuilt) {
      process.stderr.write(`${unbuilt}\n`)
      this.exit(2)
    }
  }
  process.stderr.write(
    `${config.bin}: command ${id.replaceAll(':', ' ')} not found; run '${config.bin} --help' for the list\n`,
  )
  this.exit(2)
}

export default hook
