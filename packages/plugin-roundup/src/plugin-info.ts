/** Name and version recorded in the manifests this plugin writes. */
import {readFileSync} from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string
  version: string
}

export const PLUGIN = {name: pkg.name, version: pkg.version}
