import {redactUrl} from '../db/url.js'

/** Keys whose values never reach output, whatever a plugin puts into a result. */
const SECRET_KEY = /pass(word)?|secret|token|credential|api[-_]?key/i

/** Removes the password from every URL in the text: scheme://user:pass@host → scheme://user:***@host (redactUrl). */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, (url) => redactUrl(url))
}

/** A deep copy of `value` fit for JSON output and logs: secret-named keys masked, URL passwords removed. */
export function redact(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value)
  if (Array.isArray(value)) return value.map(redact)
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Map) return redact(Object.fromEntries(value))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, inner] of Object.entries(value)) {
      if (SECRET_KEY.test(key) && inner !== undefined && inner !== null && typeof inner !== 'boolean') out[key] = '***'
      else out[key] = redact(inner)
    }
    return out
  }
  return value
}
