// The command index: a command run of one of bk's application plugins (`bk roundup backup …`) needs oclif's config
// with bk itself and that one plugin, not every installed plugin's package.json and manifest. The index, written
// after a run that loaded them all, says which plugin answers to which command id and how oclif loaded it; a later
// run that finds every file it was made from unchanged hands oclif just those two plugins (bin/run.js). Anything
// else (help, a command of bk itself or of another plugin, a stale or missing index) is oclif's ordinary start.
//
// Only node: builtins and bk's own start-up modules here: bin/run.js imports it before oclif, on every start.
import {KNOWN_PLUGINS} from './plugins.js'
import {digest, entryFile, keyVars, readTrusted, type StartupConfig, sourceFiles, writeEntry} from './startup-cache.js'

/** Bump when the entry format or what goes into the key changes. */
const FORMAT = 1
/** Beside the start-up cache's entries (startup/), in a folder of its own. */
const FOLDER = 'commands'
/** How oclif loads a plugin (its PluginOptions), as far as a command run needs it. */
const OPTION_KEYS = ['name', 'root', 'type', 'tag', 'url'] as const

/** The options oclif's Plugin is constructed with. */
export type PluginOptions = Partial<Record<(typeof OPTION_KEYS)[number], string>> & {isRoot?: boolean}

/** What bin/run.js hands oclif for a command run: the root plugin's folder and the plugins to load, root first. */
export interface RunPlan {
  id: string
  root: string
  plugins: PluginOptions[]
}

/** The parts of oclif's loaded Config the index is made from (bk's init hook hands it over). */
export interface RunConfig extends StartupConfig {
  flexibleTaxonomy?: boolean
  isSingleCommandCLI?: boolean
  commandIDs: string[]
  pjson: {oclif: {additionalHelpFlags?: string[]; additionalVersionFlags?: string[]; jitPlugins?: object}}
  findCommand(id: string): {pluginName?: string; strict?: boolean; args?: object} | undefined
  getPluginsList(): Array<
    ReturnType<StartupConfig['getPluginsList']>[number] & {
      name: string
      options: object
      parent?: unknown
      children?: unknown[]
      commands: Array<{id: string; aliases?: string[]}>
    }
  >
}

interface IndexEntry {
  format: number
  files: Array<[string, string | null]>
  /** The root plugin (bk): its folder and name. */
  root: string
  rootName: string
  /** bk's application plugins that may be loaded alone, by name: how oclif loaded them. */
  plugins: Record<string, PluginOptions>
  /** Every command id oclif knows (aliases too) → the plugin that answers to it. */
  owners: Record<string, string>
  /** The ids of commands that take positional arguments: oclif stops reading command words after one. */
  withArgs: string[]
  /** Arguments that make oclif show help or the version instead of running a command. */
  helpFlags: string[]
  versionFlags: string[]
}

const key = (runJs: string, env: NodeJS.ProcessEnv) => [
  FORMAT,
  'commands',
  runJs,
  process.version,
  process.platform,
  process.arch,
  keyVars(env),
]

/**
 * What this start does: `{plan}` when the index is fresh and `argv` runs a command of one of bk's application
 * plugins; otherwise oclif's ordinary start, with `record` when the index should be written (again) on the way.
 */
export function planRun(
  argv: readonly string[],
  runJs: string,
  env: NodeJS.ProcessEnv = process.env,
): {plan?: RunPlan; record: boolean} {
  if (env.BK_STARTUP_CACHE === 'off' || argv.length === 0) return {record: false}
  let entry: IndexEntry
  try {
    entry = JSON.parse(readTrusted(entryFile(key(runJs, env), env, FOLDER))) as IndexEntry
    if (entry?.format !== FORMAT || !wellFormed(entry)) return {record: true}
  } catch {
    return {record: true}
  }
  // stale: written again on the way (a command of a plugin installed since is not in it, but may be now)
  if (!entry.files.every(([file, sum]) => digest(file) === sum)) return {record: true}
  const plan = choose(argv, entry)
  return plan ? {plan, record: false} : {record: false}
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null
const strings = (value: unknown): boolean => Array.isArray(value) && value.every((item) => typeof item === 'string')

/**
 * The entry has the shape this bk writes: one edited by hand, or damaged yet still JSON, is written again by a full
 * start (choose() would throw on it, or plan from it).
 */
function wellFormed(entry: IndexEntry): boolean {
  return (
    Array.isArray(entry.files) &&
    entry.files.length > 0 &&
    entry.files.every(
      (f) => Array.isArray(f) && typeof f[0] === 'string' && (typeof f[1] === 'string' || f[1] === null),
    ) &&
    typeof entry.root === 'string' &&
    typeof entry.rootName === 'string' &&
    isObject(entry.plugins) &&
    Object.values(entry.plugins).every((options) => isObject(options) && typeof options.root === 'string') &&
    isObject(entry.owners) &&
    !Array.isArray(entry.owners) &&
    Object.values(entry.owners).every((name) => typeof name === 'string') &&
    strings(entry.withArgs) &&
    strings(entry.helpFlags) &&
    strings(entry.versionFlags)
  )
}

/** The plan for `argv` when oclif, given only bk and the command's plugin, reads the same command from it. */
function choose(argv: readonly string[], entry: IndexEntry): RunPlan | undefined {
  const first = argv[0] ?? ''
  if (!/^[a-z]/.test(first) || entry.versionFlags.includes(first)) return undefined
  if (argv.some((arg) => arg === '--help' || entry.helpFlags.includes(arg))) return undefined
  const ids = Object.keys(entry.owners)
  const withArgs = new Set(entry.withArgs)
  const id = commandId(argv, ids, withArgs)
  const name = entry.owners[id]
  const options = name === undefined ? undefined : entry.plugins[name]
  if (!name || !options) return undefined
  const fewer = ids.filter((other) => entry.owners[other] === name || entry.owners[other] === entry.rootName)
  if (commandId(argv, fewer, withArgs) !== id) return undefined
  return {id, root: entry.root, plugins: [{isRoot: true, root: entry.root}, options]}
}

/** The command id oclif reads from `argv` with topicSeparator ' ' (its normalizeArgv), given the ids it knows. */
export function commandId(argv: readonly string[], ids: readonly string[], withArgs: ReadonlySet<string>): string {
  const first = argv[0] ?? ''
  if (first.includes(':') || argv.length === 1) return first
  const commands = new Set(ids)
  const usable = new Set(ids.flatMap((id) => id.split(':').map((_, i, parts) => parts.slice(0, i + 1).join(':'))))
  const words: string[] = []
  const joined = (word?: string) => (word ? [...words, word] : words).filter(Boolean).join(':')
  for (const arg of argv) {
    if (usable.has(joined(arg))) words.push(arg)
    else if (arg.includes('=') || arg.startsWith('-') || (commands.has(joined()) && withArgs.has(joined()))) break
    else words.push(arg)
  }
  return joined()
}

let pending: {file: string; runJs: string} | undefined
let made: IndexEntry | undefined

/** Called by bin/run.js when planRun said so: the index is made from the config bk's init hook hands over. */
export function recordIndex(runJs: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env.BK_STARTUP_CACHE === 'off') return
  pending = {file: entryFile(key(runJs, env), env, FOLDER), runJs}
  // written at exit, and only if no file it was made from changed meanwhile (`bk plugins install` changes them)
  process.once('exit', () => {
    if (!pending || !made) return
    try {
      if (made.files.every(([file, sum]) => digest(file) === sum)) writeEntry(pending.file, JSON.stringify(made))
    } catch {
      // nothing is recorded; the next run loads every plugin again
    }
  })
}

/** Called by bk's init hook with oclif's loaded config: the index, digests taken now, before the command runs. */
export function noteRunConfig(config: RunConfig): void {
  if (!pending || made) return
  try {
    made = indexOf(config, pending.runJs)
  } catch {
    made = undefined
  }
}

function indexOf(config: RunConfig, runJs: string): IndexEntry | undefined {
  if (config.flexibleTaxonomy || config.isSingleCommandCLI || config.pjson.oclif.jitPlugins) return undefined
  const files = sourceFiles(config, runJs)
  const list = config.getPluginsList()
  const root = list.find((plugin) => plugin.isRoot)
  if (!files || !root) return undefined
  const owners: Record<string, string> = {}
  for (const plugin of list) {
    for (const command of plugin.commands) {
      for (const id of [command.id, ...(command.aliases ?? [])]) {
        // two plugins (or a command and an alias) answer to one id: oclif's priority decides, from all plugins
        if (Object.hasOwn(owners, id)) return undefined
        owners[id] = plugin.name
      }
    }
  }
  // oclif's own table must be exactly that
  const ids = config.commandIDs
  if (ids.length !== Object.keys(owners).length) return undefined
  if (ids.some((id) => config.findCommand(id)?.pluginName !== owners[id])) return undefined
  const withArgs = ids.filter((id) => {
    const command = config.findCommand(id)
    return command?.strict === false || Object.keys(command?.args ?? {}).length > 0
  })
  const known = new Set(Object.values(KNOWN_PLUGINS))
  const plugins: Record<string, PluginOptions> = {}
  for (const plugin of list) {
    if (plugin.isRoot || !known.has(plugin.name) || plugin.parent || (plugin.children?.length ?? 0) > 0) continue
    const options = loadOptions(plugin.options)
    if (options) plugins[plugin.name] = options
  }
  return {
    format: FORMAT,
    files: files.map((file) => [file, digest(file)]),
    root: root.root,
    rootName: root.name,
    plugins,
    owners,
    withArgs,
    helpFlags: config.pjson.oclif.additionalHelpFlags ?? [],
    versionFlags: ['--version', ...(config.pjson.oclif.additionalVersionFlags ?? [])],
  }
}

/** The plugin's loader options when they are plain strings oclif can be given again; undefined otherwise. */
function loadOptions(options: object): PluginOptions | undefined {
  const out: PluginOptions = {}
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue
    if (!(OPTION_KEYS as readonly string[]).includes(name) || typeof value !== 'string') return undefined
    out[name as (typeof OPTION_KEYS)[number]] = value
  }
  return out.root ? out : undefined
}
