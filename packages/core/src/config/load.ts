import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {resolve} from 'node:path'
import {BkError, messageOf} from '../errors.js'
import {yaml} from '../yaml.js'

/** bk.yml: `core:` plus one section per plugin; each section maps long-flag names to values. */
export type ConfigSections = Record<string, Record<string, unknown>>

/** A loaded bk.yml: where it came from, its per-command sections, jobs and alerts. */
export interface LoadedConfig {
  /** The file read, or undefined when there is none. */
  file?: string
  sections: ConfigSections
  /** `jobs:` (a list) and `alerts:`, read by `bk run`/`status`/`schedule`/`report` (jobs/config.ts checks them). */
  jobs?: unknown
  alerts?: unknown
}

/** The config file read from the current folder when `--config` is not given. */
export const DEFAULT_CONFIG_FILE = 'bk.yml'

/**
 * Reads `--config <file>`, else ./bk.yml when present. A named file that is missing is an error;
 * an absent ./bk.yml is not. Shape errors name the file and the key.
 */
export async function loadConfigFile(explicit?: string, cwd = process.cwd()): Promise<LoadedConfig> {
  const file = explicit ? resolve(cwd, explicit) : resolve(cwd, DEFAULT_CONFIG_FILE)
  if (!existsSync(file)) {
    if (explicit) throw new BkError(`config file ${explicit} does not exist`, {code: 'ECONFIG'})
    return {sections: {}}
  }
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new BkError(`${file}: cannot be read (${messageOf(error)})`, {code: 'ECONFIG', cause: error})
  }
  // yaml loads only when there is a bk.yml to read, not with every command that imports core; outside the try: a
  // module that does not load (a cut dist/vendor/yaml.cjs) is no fault of the file's YAML
  const {parse} = yaml()
  let data: unknown
  try {
    data = parse(text)
  } catch (error) {
    throw new BkError(`${file}: not valid YAML: ${messageOf(error).split('\n')[0]}`, {code: 'ECONFIG'})
  }
  if (data === null || data === undefined) return {file, sections: {}}
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new BkError(`${file}: expected sections such as 'core:' or 'trac:' at the top level`, {code: 'ECONFIG'})
  }
  const sections: ConfigSections = {}
  const loaded: LoadedConfig = {file, sections}
  for (const [name, body] of Object.entries(data)) {
    if (name === 'jobs' || name === 'alerts') {
      loaded[name] = body
      continue
    }
    if (body === null || body === undefined) continue
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new BkError(`${file}: section '${name}' must map option names to values`, {code: 'ECONFIG'})
    }
    sections[name] = body as Record<string, unknown>
  }
  return loaded
}
