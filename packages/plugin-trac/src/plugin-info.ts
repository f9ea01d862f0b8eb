/** Names and versions recorded in the manifests this plugin writes. */
import {readFileSync} from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string
  version: string
}

export const pluginInfo = {
  plugin: {name: pkg.name, version: pkg.version},
  tool: {name: 'bk' as const, version: process.env.BK_CLI_VERSION ?? pkg.version},
}
