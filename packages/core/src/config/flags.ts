import {BkError} from '../errors.js'

/** What the config merger needs to know of an oclif flag. */
export interface FlagShape {
  type: 'boolean' | 'option'
  multiple?: boolean
  allowNo?: boolean
  /** Other names of the flag (oclif's `aliases`), accepted as config keys too (e.g. an original tool's option names). */
  aliases?: string[]
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1'])
const FALSE_WORDS = new Set(['false', 'no', 'off', '0'])

/** A boolean written as a word (`true/yes/on/1`, `false/no/off/0`, any case), as INI and buildout files spell them. */
export function booleanWord(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value
  const word = String(value).trim().toLowerCase()
  if (TRUE_WORDS.has(word)) return true
  if (FALSE_WORDS.has(word)) return false
  return undefined
}

/**
 * Rewrites `--flag=VALUE` of boolean flags (by name or alias) into `--flag` / `--no-flag`: oclif would otherwise
 * take VALUE for the next argument, so `--gzip=false` would turn gzip on. A false value of a flag without a
 * `--no-` form is dropped (false is its default). A VALUE that is no boolean word is a usage error naming the
 * flag. Tokens after `--` are left alone.
 */
export function normalizeBooleanArgv(argv: string[], flags: Record<string, FlagShape>): string[] {
  const byName = new Map<string, [string, FlagShape]>()
  for (const [name, shape] of Object.entries(flags)) {
    if (shape.type !== 'boolean') continue
    byName.set(name, [name, shape])
    for (const alias of shape.aliases ?? []) byName.set(alias, [name, shape])
  }
  const out: string[] = []
  for (const [i, token] of argv.entries()) {
    if (token === '--') {
      out.push(...argv.slice(i))
      break
    }
    const m = /^--([^=]+)=(.*)$/s.exec(token)
    const hit = m ? byName.get(m[1]!) : undefined
    if (!m || !hit) {
      out.push(token)
      continue
    }
    const [name, shape] = hit
    const value = booleanWord(m[2])
    if (value === undefined) {
      throw new BkError(`--${m[1]} takes true or false, not '${m[2]}'`, {code: 'EUSAGE', exit: 2})
    }
    if (value) out.push(`--${name}`)
    else if (shape.allowNo) out.push(`--no-${name}`)
  }
  return out
}

/** alias → flag name, for the flags that have aliases. */
function aliasMap(flags: Record<string, FlagShape>): Map<string, string> {
  const map = new Map<string, string>()
  for (const [name, shape] of Object.entries(flags)) for (const alias of shape.aliases ?? []) map.set(alias, name)
  return map
}

/** Keys valid in a config file but never flags: secrets must not be typed on a command line. */
export const CONFIG_ONLY_KEYS = new Set(['db-password', 'db-admin-password'])

/**
 * Checks every key of a section against the known option names (unknown keys are errors naming the key)
 * and turns the values that apply to this command, and were not given on the command line, into argv
 * tokens — so oclif parses and validates them exactly like typed flags, and typed flags win. A key may be any
 * alias of a flag (an original tool's option name); two keys naming one flag in a section are an error. A
 * boolean may be written as a word (`yes`, `off` …).
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
  const aliases = aliasMap(options.commandFlags)
  const named = new Map<string, string>()
  for (const [key, value] of Object.entries(options.values)) {
    if (!options.known.has(key) && !CONFIG_ONLY_KEYS.has(key)) {
      const hint = [...options.known].sort().join(', ')
      throw new BkError(`${options.file}: unknown key '${options.section}.${key}' (known: ${hint})`, {code: 'ECONFIG'})
    }
    const name = aliases.get(key) ?? key
    const twice = named.get(name)
    if (twice !== undefined) {
      throw new BkError(
        `${options.file}: '${options.section}.${twice}' and '${options.section}.${key}' set the same option; keep one`,
        {code: 'ECONFIG'},
      )
    }
    named.set(name, key)
    const flag = options.commandFlags[name]
    if (!flag || options.given.has(name) || CONFIG_ONLY_KEYS.has(name)) continue
    const where = `${options.file}: ${options.section}.${key}`
    if (flag.type === 'boolean') {
      const on = booleanWord(value)
      if (on === undefined) {
        throw new BkError(`${where} must be true or false`, {code: 'ECONFIG'})
      }
      if (on) argv.push(`--${name}`)
      else if (flag.allowNo) argv.push(`--no-${name}`)
      continue
    }
    const list = Array.isArray(value) ? value : [value]
    if (list.length > 1 && !flag.multiple) throw new BkError(`${where} takes one value, not a list`, {code: 'ECONFIG'})
    for (const item of list) {
      if (typeof item !== 'string' && typeof item !== 'number') {
        throw new BkError(`${where} must be a string or a number`, {code: 'ECONFIG'})
      }
      argv.push(`--${name}=${item}`)
    }
  }
  return argv
}
