import {BkError} from '@bkcli/core/errors'
import {applyEdits, type Edit, PhpConfig, replaceScalar} from '../php/assignments.js'
import {phpString} from '../php/lexer.js'
import type {SiteDatabase} from './credentials.js'

export type NewCredentials = Pick<SiteDatabase, 'database' | 'username' | 'password'> &
  Partial<Pick<SiteDatabase, 'host' | 'port'>>

/**
 * settings.php with the literal credentials replaced in place (`$databases['default']['default']` values and
 * `$db_url`), every other byte unchanged. A cloaked settings.php (values from `$_SERVER`) has nothing to
 * rewrite and is returned as it is: the web server's vhost supplies those values.
 */
export function rewriteSettingsCredentials(text: string, next: NewCredentials): {text: string; changed: number} {
  const php = new PhpConfig(text)
  const edits: Edit[] = []
  const db = php.get('$databases', 'default', 'default')
  if (db?.kind === 'array') {
    const map: Record<string, string | undefined> = {
      database: next.database,
      username: next.username,
      password: next.password,
      host: next.host,
      port: next.port === undefined ? undefined : String(next.port),
    }
    for (const [key, value] of Object.entries(map)) {
      const leaf = db.entries.get(key)
      if (value === undefined || leaf === undefined || leaf.kind === 'expr') continue
      if (leaf.kind !== 'scalar')
        throw new BkError(`settings.php: $databases['default']['default']['${key}'] is not a plain value`)
      edits.push(replaceScalar(leaf, value))
    }
  }
  for (const keys of [['default'], []]) {
    const url = php.get('$db_url', ...keys)
    if (url?.kind === 'scalar' && typeof url.value === 'string') {
      edits.push({...replaceScalar(url, ''), text: phpString(rebuildDbUrl(url.value, next), url.token.quote ?? "'")})
      break
    }
  }
  return {text: applyEdits(text, dedupe(edits)), changed: edits.length}
}

/** drushrc.php with `$options['db_name'|'db_user'|'db_passwd'|'db_host'|'db_port']` replaced in place. */
export function rewriteDrushrcCredentials(text: string, next: NewCredentials): {text: string; changed: number} {
  const php = new PhpConfig(text)
  const edits: Edit[] = []
  const map: Record<string, string | undefined> = {
    db_name: next.database,
    db_user: next.username,
    db_passwd: next.password,
    db_host: next.host,
    db_port: next.port === undefined ? undefined : String(next.port),
  }
  for (const [key, value] of Object.entries(map)) {
    const leaf = php.get('$options', key)
    if (value !== undefined && leaf?.kind === 'scalar') edits.push(replaceScalar(leaf, value))
  }
  return {text: applyEdits(text, dedupe(edits)), changed: edits.length}
}

/** Set `$options['uri']` (and friends) in drushrc.php for a site that got a new name. */
export function rewriteDrushrcOption(text: string, key: string, value: string): string {
  const leaf = new PhpConfig(text).get('$options', key)
  if (leaf?.kind !== 'scalar') return text
  return applyEdits(text, [replaceScalar(leaf, value)])
}

function rebuildDbUrl(url: string, next: NewCredentials): string {
  const m = /^([a-z]+):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^:/]*)(?::(\d+))?\/(.+)$/i.exec(url)
  if (!m) throw new BkError('settings.php: cannot parse $db_url to rewrite it')
  const enc = (s: string) => encodeURIComponent(s)
  const host = next.host ?? m[4]
  const port = next.port !== undefined ? String(next.port) : m[5]
  return `${m[1]}://${enc(next.username)}:${enc(next.password)}@${host}${port ? `:${port}` : ''}/${next.database}`
}

function dedupe(edits: Edit[]): Edit[] {
  const seen = new Set<number>()
  return edits.filter((e) => (seen.has(e.start) ? false : seen.add(e.start)))
}

/**
 * Replace `sites/<oldUri>` (a whole uri, not a prefix of a longer one) by `sites/<newUri>` in a text, and an
 * old platform root by a new one (migrate), e.g. the include paths at the end of an Aegir settings.php.
 */
export function rewriteSitePathsInText(
  text: string,
  from: {uri: string; platformRoot?: string},
  to: {uri: string; platformRoot?: string},
): string {
  let out = text
  if (from.platformRoot && to.platformRoot && from.platformRoot !== to.platformRoot) {
    out = out.split(`${from.platformRoot}/`).join(`${to.platformRoot}/`)
  }
  if (from.uri !== to.uri) out = out.replace(sitePathPattern(from.uri), `sites/${to.uri}`)
  return out
}

/** `sites/<uri>` not followed by a character that would make it a longer uri. */
export function sitePathPattern(uri: string): RegExp {
  return new RegExp(`sites/${uri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9._-])`, 'g')
}

/** The platform root an Aegir settings.php was written for (from its `sites/all/platform.settings.php` include). */
export function platformRootInSettings(text: string): string | undefined {
  return /['"]([^'"]+)\/sites\/all\/platform\.settings\.php['"]/.exec(text)?.[1]
}
