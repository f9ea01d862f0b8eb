// The data folder's package.json lists the plugins `bk plugins install` and `bk plugins link` added (its `oclif.plugins`).
import {readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

/**
 * Gives the data folder's package.json an empty plugin list when it has none (no `oclif` key: written by hand, or
 * by `npm install` in that folder). oclif loads such a file as listing no plugins, but @oclif/plugin-plugins reads
 * `oclif.plugins` from it unguarded and every `bk plugins install|link|uninstall` would crash on it. Its other keys
 * stay; the file is replaced whole (a temporary file renamed over it), laid out as plugin-plugins writes it. A file
 * that is absent, not JSON or not an object is left as it is (plugin-plugins creates or reports it).
 */
export async function ensurePluginList(dataDir: string): Promise<boolean> {
  const file = join(dataDir, 'package.json')
  let pjson: unknown
  try {
    pjson = JSON.parse(await readFile(file, 'utf8'))
  } catch {
    return false
  }
  if (typeof pjson !== 'object' || pjson === null || Array.isArray(pjson)) return false
  const record = pjson as Record<string, unknown>
  if (record.oclif !== undefined && record.oclif !== null) return false
  record.oclif = {schema: 1, plugins: []}
  const temp = `${file}.${process.pid}.tmp`
  try {
    await writeFile(temp, JSON.stringify(record, null, 2), {flag: 'wx'})
    await rename(temp, file)
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }
  return true
}

/** The subcommand of `bk plugins <subcommand> …` (oclif hands the init hook `plugins:<x>`, or the first word as the id). */
export function pluginsSubcommand(id: string | undefined, argv: readonly string[]): string | undefined {
  if (id?.startsWith('plugins:')) return id.slice('plugins:'.length)
  return id === 'plugins' && /^[a-z]/.test(argv[0] ?? '') ? argv[0] : undefined
}

/**
 * The subcommands (and their aliases) that read the plugin list unguarded and write it: only these need
 * ensurePluginList, so a read-only `bk plugins inspect` never writes the data folder.
 */
export const WRITES_PLUGIN_LIST: ReadonlySet<string> = new Set([
  'install',
  'add',
  'link',
  'uninstall',
  'unlink',
  'remove',
  'rm',
  'update',
  'reset',
])
