import {quietExit} from '@bkcli/core/command'
import type {Hook} from '@bkcli/core/oclif'
import {runTool} from '@bkcli/core/process'
import {type PackageInfo, resolvePluginInstall} from '../plugins.js'

/**
 * `bk plugins install <name>`, before anything is downloaded: a short name of a bk plugin becomes its package
 * (`zodb` → `@bkcli/plugin-zodb`); an unknown name is refused with one line (the closest bk plugin and the list);
 * another package is installed only if the registry's metadata shows a bk plugin, so a package that is not one is
 * never downloaded and its install scripts never run. A git URL is refused (its package cannot be checked first).
 */
const hook: Hook<'plugins:preinstall'> = async function ({plugin, config}) {
  if (plugin.type !== 'npm') {
    process.stderr.write(
      `${config.bin}: install plugins by package name from the registry; for a local checkout use: ${config.bin} plugins link <path>\n`,
    )
    // @oclif/plugin-plugins runs this hook from its own @oclif/core: see quietExit
    quietExit(this, 2)
  }
  const decision = await resolvePluginInstall(
    plugin.name,
    (pkg) => npmView(pkg, plugin.tag, config.npmRegistry),
    config.bin,
  )
  if ('refuse' in decision) {
    process.stderr.write(`${config.bin}: ${decision.refuse}\n`)
    quietExit(this, 2)
  }
  // plugins:install reads plugin.name after this hook.
  plugin.name = decision.install
}

/** The registry's metadata of `pkg@tag` (npm view: metadata only, nothing downloaded); undefined when there is none. */
async function npmView(pkg: string, tag: string, registry?: string): Promise<PackageInfo | undefined> {
  const args = ['view', `${pkg}@${tag}`, 'name', 'oclif', 'dependencies', 'peerDependencies', '--json']
  if (registry) args.push(`--registry=${registry}`)
  const result = await runTool('npm', args, {okExitCodes: [0, 1], label: 'npm view'})
  if (result.exitCode !== 0 || !result.stdout.trim()) return undefined
  const parsed = JSON.parse(result.stdout) as PackageInfo | PackageInfo[]
  return Array.isArray(parsed) ? parsed.at(-1) : parsed
}

export default hook
