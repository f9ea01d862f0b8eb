import {readFileSync} from 'node:fs'

/** This plugin's name and version, for manifests. */
export const PLUGIN = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    name: string
    version: string
  }
  return {name: pkg.name, version: pkg.version}
})()
