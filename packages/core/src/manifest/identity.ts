import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

/** Who wrote a manifest: the plugin package and the bk that ran it. */
export interface PluginIdentity {
  plugin: {name: string; version: string}
  tool: {name: 'bk'; version: string}
}

const cache = new Map<string, PluginIdentity>()

/**
 * The identity of the plugin whose module is `moduleUrl` (pass `import.meta.url`): the name and version of the
 * nearest package.json above it, read once. The tool version is the CLI's (`BK_CLI_VERSION`, set by the bk
 * binary) or, when a plugin runs alone (tests), the plugin's own.
 */
export function pluginIdentity(moduleUrl: string): PluginIdentity {
  const cached = cache.get(moduleUrl)
  if (cached) return cached
  let dir = dirname(fileURLToPath(moduleUrl))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {name?: string; version?: string}
      if (pkg.name && pkg.version) {
        const identity: PluginIdentity = {
          plugin: {name: pkg.name, version: pkg.version},
          tool: {name: 'bk', version: process.env.BK_CLI_VERSION ?? pkg.version},
        }
        cache.set(moduleUrl, identity)
        return identity
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no package.json with a name and version above ${fileURLToPath(moduleUrl)}`)
    dir = parent
  }
}
