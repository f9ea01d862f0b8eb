// `bk plugins link <path>` of a plugin checkout. bk runs compiled code only (bin/run.js turns oclif's transpiling of
// a linked plugin's TypeScript off), so a checkout must be built first: unbuilt, oclif would find none of its
// commands and every one would be "not found".
import {existsSync, readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'

interface PluginPackage {
  name?: string
  oclif?: {commands?: string | {target?: string}; topics?: Record<string, unknown>}
}

function readPackage(root: string): PluginPackage | undefined {
  try {
    const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as unknown
    return typeof pjson === 'object' && pjson !== null ? (pjson as PluginPackage) : undefined
  } catch {
    return undefined
  }
}

/** Where a plugin's package.json says its compiled commands are (`oclif.commands`: a path, or `{target}`). */
function commandsTarget(pjson: PluginPackage): string | undefined {
  const commands = pjson.oclif?.commands
  return typeof commands === 'string' ? commands : commands?.target
}

/**
 * One line when the plugin at `root` names a commands folder that does not exist (a checkout not built); undefined
 * when it exists, or `root` holds no plugin package.json (oclif's own checks answer that).
 */
export function unbuiltPluginProblem(root: string, bin: string): string | undefined {
  const pjson = readPackage(root)
  const target = pjson && commandsTarget(pjson)
  if (!pjson || !target || existsSync(join(root, target))) return undefined
  return `${bin}: plugin ${pjson.name ?? root} in ${root} is not built (no ${target}); build it (npm install, then npm run build) and run '${bin} plugins link ${root}' again`
}

/** The folder `bk plugins link [flags] <path>` links (resolved as @oclif/plugin-plugins does), if argv is one. */
export function linkPath(id: string | undefined, argv: readonly string[], cwd = process.cwd()): string | undefined {
  const args = id === 'plugins:link' ? argv : id === 'plugins' && argv[0] === 'link' ? argv.slice(1) : undefined
  const path = args?.find((arg) => !arg.startsWith('-'))
  return path === undefined ? undefined : resolve(cwd, path)
}

/** The topics a plugin's package.json declares (how a "not found" command is told to be one of its own). */
export function pluginTopics(root: string): string[] {
  return Object.keys(readPackage(root)?.oclif?.topics ?? {})
}
