/** The application plugins bk knows about: topic -> package. Installed separately (`bk plugins install <topic>`). */
export const KNOWN_PLUGINS: Record<string, string> = {
  trac: '@bkcli/plugin-trac',
  roundup: '@bkcli/plugin-roundup',
  zodb: '@bkcli/plugin-zodb',
  aegir: '@bkcli/plugin-aegir',
  iotstack: '@bkcli/plugin-iotstack',
}

/** A word that can be a topic or command name (not a path, URL, flag or value). */
const COMMAND_WORD = /^[a-z][a-z0-9-]*$/

/**
 * One line naming the install command when `id` belongs to a known plugin that is not loaded; undefined otherwise.
 * `id` is oclif's command id: colon-separated, or space-separated as typed, possibly followed by the arguments.
 * bk's plugin commands are `<topic> <command>`, so the line names at most those two words, never the arguments.
 */
export function missingPluginHint(id: string, loadedPlugins: Iterable<string>, bin = 'bk'): string | undefined {
  const words = id.split(/[: ]/).filter(Boolean)
  const topic = words[0]
  if (!topic) return undefined
  const pkg = KNOWN_PLUGINS[topic]
  if (!pkg) return undefined
  if ([...loadedPlugins].includes(pkg)) return undefined
  const command = words[1] && COMMAND_WORD.test(words[1]) ? `${topic} ${words[1]}` : topic
  return `${bin}: '${command}' is provided by plugin ${pkg}, which is not installed. Run: ${bin} plugins install ${topic}`
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions: tarc → trac is 1). */
export function editDistance(a: string, b: string): number {
  const cols = b.length + 1
  const d = new Array<number>((a.length + 1) * cols).fill(0)
  const at = (i: number, j: number) => d[i * cols + j] ?? 0
  for (let i = 0; i <= a.length; i++) d[i * cols] = i
  for (let j = 0; j <= b.length; j++) d[j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1)
      d[i * cols + j] = best
    }
  }
  return at(a.length, b.length)
}

/** The known plugin whose short name is nearest to `name` (at most 2 edits), if any. */
export function closestPlugin(name: string): string | undefined {
  let best: {topic: string; distance: number} | undefined
  for (const topic of Object.keys(KNOWN_PLUGINS)) {
    const distance = editDistance(name.toLowerCase(), topic)
    if (distance <= 2 && distance < name.length && (!best || distance < best.distance)) best = {topic, distance}
  }
  return best?.topic
}

/** "(bk plugins: trac, roundup, zodb, aegir, iotstack)" */
export function pluginList(bin = 'bk'): string {
  return `(${bin} plugins: ${Object.keys(KNOWN_PLUGINS).join(', ')})`
}

/** The package a name given to `bk plugins install` stands for: a short name of a known plugin → its package. */
export function knownPackage(name: string): string | undefined {
  if (Object.values(KNOWN_PLUGINS).includes(name)) return name
  return KNOWN_PLUGINS[name.toLowerCase()]
}

/** What the registry says about a package (the fields of its package.json that tell a bk plugin). */
export interface PackageInfo {
  oclif?: {commands?: unknown}
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/** A bk plugin is an oclif plugin (package.json `oclif.commands`) built on @bkcli/core. */
export function isBkPlugin(info: PackageInfo): boolean {
  const usesCore = Boolean(info.dependencies?.['@bkcli/core'] || info.peerDependencies?.['@bkcli/core'])
  return Boolean(info.oclif?.commands) && usesCore
}

/**
 * Decide, before anything is downloaded, what `bk plugins install <name>` installs: the package name to install,
 * or a one-line refusal. `lookup` reads a package's metadata from the registry (undefined: no such package); it is
 * called only for a name that is neither a known plugin nor close to one.
 */
export async function resolvePluginInstall(
  name: string,
  lookup: (pkg: string) => Promise<PackageInfo | undefined>,
  bin = 'bk',
): Promise<{install: string} | {refuse: string}> {
  const known = knownPackage(name)
  if (known) return {install: known}
  const scoped = name.startsWith('@')
  const close = scoped ? undefined : closestPlugin(name)
  if (close) return {refuse: `no ${bin} plugin named ${name}; did you mean ${close}? ${pluginList(bin)}`}
  const info = await lookup(name)
  if (!info) {
    const third = scoped ? '' : '; a third-party plugin needs its full package name'
    return {refuse: `no ${bin} plugin named ${name} ${pluginList(bin)}${third}`}
  }
  if (!isBkPlugin(info)) {
    return {
      refuse: `${name} is not a ${bin} plugin (no oclif commands built on @bkcli/core); nothing was installed ${pluginList(bin)}`,
    }
  }
  return {install: name}
}
