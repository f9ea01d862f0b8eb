import {Help} from '@bkcli/core/oclif/help'
import {KNOWN_PLUGINS} from './plugins.js'

/** oclif's help, with the application plugins (installed or not, and how to install) at the end of `bk --help`. */
export default class BkHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp()
    this.log(applicationPluginsSection(this.config.plugins, this.config.bin))
  }
}

/** The APPLICATION PLUGINS section: one line per known plugin, its version when installed, else the install command. */
export function applicationPluginsSection(loaded: Map<string, {version: string}>, bin = 'bk'): string {
  const width = Math.max(...Object.keys(KNOWN_PLUGINS).map((topic) => topic.length)) + 2
  const lines = Object.entries(KNOWN_PLUGINS).map(([topic, pkg]) => {
    const plugin = loaded.get(pkg)
    const state = plugin ? `installed (${pkg} ${plugin.version})` : `not installed: ${bin} plugins install ${topic}`
    return `  ${topic.padEnd(width)}${state}`
  })
  return `\nAPPLICATION PLUGINS\n${lines.join('\n')}`
}
