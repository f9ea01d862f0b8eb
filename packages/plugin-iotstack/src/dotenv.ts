import {readFile} from 'node:fs/promises'
import {BkError} from '@bkcli/core/errors'

/**
 * docker compose's `.env` and variable interpolation, enough to know what a service will see
 * (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `$VAR`, `$$`).
 * Values are secrets: nothing here logs them.
 */
export type Variables = Record<string, string>

/** Parses a compose `.env` file: `KEY=value`, `export KEY=value`, `#` comments, single or double quotes. */
export function parseDotenv(text: string): Variables {
  const vars: Variables = {}
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line)
    if (!match) continue
    vars[match[1]!] = unquote(match[2]!)
  }
  return vars
}

function unquote(value: string): string {
  const quote = value[0]
  if ((quote === '"' || quote === "'") && value.length > 1) {
    const end = value.indexOf(quote, 1)
    if (end > 0) {
      const inner = value.slice(1, end)
      return quote === '"' ? inner.replaceAll('\\n', '\n').replaceAll('\\"', '"') : inner
    }
  }
  // Unquoted: an inline comment starts at " #".
  const comment = value.search(/\s#/)
  return (comment >= 0 ? value.slice(0, comment) : value).trim()
}

/** Reads `<file>` if it exists; `{}` if it does not. */
export async function readDotenv(file: string): Promise<Variables> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new BkError(`cannot read ${file}: ${(error as Error).message}`)
  }
  return parseDotenv(text)
}

export interface Interpolated {
  value: string
  /** Variables a `:?`/`?` expression required but that are unset (or empty for `:?`). */
  missing: string[]
}

/** Expands compose variables in `text` with `vars`; never throws, reports required variables that are missing. */
export function interpolate(text: string, vars: Variables): Interpolated {
  const missing: string[] = []
  const value = text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      if (whole === '$$') return '$'
      const name = (braced ?? bare)!
      const set = Object.hasOwn(vars, name)
      const current = set ? vars[name]! : ''
      if (!op) return current
      const colon = op.startsWith(':')
      const usable = colon ? current !== '' : set
      const nested = () => interpolate(arg ?? '', vars)
      switch (op.at(-1)) {
        case '-': {
          if (usable) return current
          const inner = nested()
          missing.push(...inner.missing)
          return inner.value
        }
        case '?': {
          if (!usable) missing.push(name)
          return current
        }
        default: {
          // '+': the alternative when set
          if (!usable) return ''
          const inner = nested()
          missing.push(...inner.missing)
          return inner.value
        }
      }
    },
  )
  return {value, missing}
}
