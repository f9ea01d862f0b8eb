import type {Hook} from '@oclif/core'
import {missingPluginHint} from '../plugins.js'

/**
 * Unknown command: if it belongs to an application plugin that is not installed, say how to install it (exit 127);
 * otherwise a plain "not found" (exit 2). This hook must always end the process: returning would exit 0.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const id = options.id
  const hint = missingPluginHint(id, options.config.plugins.keys(), options.config.bin)
  if (hint) {
    process.stderr.write(`${hint}\n`)
    this.exit(127)
  }
  this.error(
    `command ${id.replaceAll(':', ' ')} not found. Run '${options.config.bin} --help' for the list of commands.`,
    {
      exit: 2,
    },
  )
}

export default hook
