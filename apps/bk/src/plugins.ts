/** The application plugins bk knows about: topic -> package. Installed separately (`bk plugins install <topic>`). */
export const KNOWN_PLUGINS: Record<string, string> = {
  trac: '@bkcli/plugin-trac',
  roundup: '@bkcli/plugin-roundup',
  zodb: '@bkcli/plugin-zodb',
  aegir: '@bkcli/plugin-aegir',
  iotstack: '@bkcli/plugin-iotstack',
}

/**
 * One line naming the install command when `id` belongs to a known plugin that is not loaded; undefined otherwise.
 * `id` is oclif's command id: colon-separated, or space-separated as typed.
 */
export function missingPluginHint(id: string, loadedPlugins: Iterable<string>, bin = 'bk'): string | undefined {
  const words = id.split(/[: ]/).filter(Boolean)
  const topic = words[0]
  if (!topic) return undefined
  const pkg = KNOWN_PLUGINS[topic]
  if (!pkg) return undefined
  if ([...loadedPlugins].includes(pkg)) return undefined
  return `${bin}: '${words.join(' ')}' is provided by plugin ${pkg}, which is not installed. Run: ${bin} plugins install ${topic}`
}
