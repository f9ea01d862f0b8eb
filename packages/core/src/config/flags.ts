import {BkError} from '../errors.js'

/** What the config merger needs to know of an oclif flag. */
export interface FlagShape {
  type: 'boolean' | 'option'
  multiple?: boolean
  allowNo?: boolean
}

/** Keys valid in a config file but never flags: secrets must not be typed on a command line. */
export const CONFIG_ONLY_KEYS = new Set(['db-password', 'db-admin-password'])

/**
 * Checks every key of a section against the known option names (unknown keys are errors naming the key)
 * and turns the values that apply to this command, and were not given on the command line, into argv
 * tokens — so oclif parses and validates them exactly like typed flags, and typed flags win.
 */
export function configToArgv(options: {
  file: string
  section: string
  values: Record<string, unknown>
  known: Set<string>
  commandFlags: Record<string, FlagShape>
  given: Set<string>
}): string[] {
  const argv: string[] = []
  for (const [key, value] of Object.entries(options.values)) {
    if (!options.known.has(key) && !CONFIG_ONLY_KEYS.has(key)) {
      const hint = [...options.known].sort().join(', ')
      throw new BkError(`${options.file}: unknown key '${options.section}.${key}' (known: ${hint})`, {code: 'ECONFIG'})
    }
    const flag = options.commandFlags[key]
    if (!flag || options.given.has(key) || CONFIG_ONLY_KEYS.has(key)) continue
    const where = `${options.file}: ${options.section}.${key}`
    if (flag.type === 'boolean') {
      if (typeof value !== 'boolean') throw new BkError(`${where} must be true or false`, {code: 'ECONFIG'})
      if (value) argv.push(`--${key}`)
      else if (flag.allowNo) argv.push(`--no-${key}`)
      continue
    }
    const list = Array.isArray(value) ? value : [value]
    if (list.length > 1 && !flag.multiple) throw new BkError(`${where} takes one value, not a list`, {code: 'ECONFIG'})
    for (const item of list) {
      if (typeof item !== 'string' && typeof item !== 'number') {
        throw new BkError(`${where} must be a string or a number`, {code: 'ECONFIG'})
      }
      argv.push(`--${key}=${item}`)
    }
  }
  return argv
}
