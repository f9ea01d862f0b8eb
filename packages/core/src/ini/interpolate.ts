/** Python configparser's BasicInterpolation: `%(name)s` is another option's value, `%%` a literal `%`. */

export class InterpolationError extends Error {}

const MAX_DEPTH = 10
const KEY = /^%\(([^)]+)\)s/

/** Expand `raw`; `lookup(name)` gives the raw value of an option of the same section (or DEFAULT), lower-cased name. */
export function interpolate(raw: string, lookup: (name: string) => string | undefined, depth = 0): string {
  if (depth > MAX_DEPTH) throw new InterpolationError(`%-interpolation nested deeper than ${MAX_DEPTH} (a loop?)`)
  let out = ''
  let rest = raw
  while (rest) {
    const p = rest.indexOf('%')
    if (p < 0) return out + rest
    out += rest.slice(0, p)
    rest = rest.slice(p)
    const next = rest[1]
    if (next === '%') {
      out += '%'
      rest = rest.slice(2)
    } else if (next === '(') {
      const match = KEY.exec(rest)
      if (!match) throw new InterpolationError(`bad %-reference ${JSON.stringify(rest)}`)
      const name = (match[1] as string).toLowerCase()
      const value = lookup(name)
      if (value === undefined) throw new InterpolationError(`%(${match[1]})s refers to a missing option`)
      rest = rest.slice(match[0].length)
      out += value.includes('%') ? interpolate(value, lookup, depth + 1) : value
    } else {
      throw new InterpolationError(
        `'%' must be followed by '%' or '(' (write %% for a literal %): ${JSON.stringify(rest)}`,
      )
    }
  }
  return out
}

/** The raw text that BasicInterpolation reads back as `value`. */
export function escapePercent(value: string): string {
  return value.replaceAll('%', '%%')
}
