import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {PhpConfig} from '../php/assignments.js'
import {lexPhp} from '../php/lexer.js'

/** The database a Drupal site uses, as its settings.php (or Aegir's drushrc.php) says. */
export interface SiteDatabase {
  engine: 'mysql' | 'postgres'
  /** Drupal's driver name: mysql, mysqli (D6), pgsql. */
  driver: string
  database: string
  username: string
  password: string
  host: string
  port?: number
  /** Where the values were read: 'settings.php $databases', 'settings.php $db_url', 'drushrc.php', 'flags'. */
  from: string
}

export function engineOfDriver(driver: string): 'mysql' | 'postgres' {
  const d = driver.toLowerCase()
  if (d === 'pgsql' || d === 'postgres' || d === 'postgresql') return 'postgres'
  if (d === 'mysql' || d === 'mysqli' || d === 'mariadb') return 'mysql'
  throw new BkError(`unsupported Drupal database driver '${driver}' (bk aegir handles mysql, mysqli and pgsql)`)
}

/** Values given by flags/config for a site whose settings.php reads its credentials from $_SERVER (cloaked). */
export type DatabaseOverrides = Partial<Omit<SiteDatabase, 'from' | 'engine'>>

/**
 * Reads the site's database credentials: settings.php `$databases['default']['default']` (D7/D8+), else
 * `$db_url` (D6), else drushrc.php `$options['db_*']` (Aegir writes them there too, also when settings.php is
 * cloaked), completed by `overrides` (flags or config for cloaked `$_SERVER` values). Throws a BkError naming
 * what is missing.
 */
export async function readSiteDatabase(siteDir: string, overrides: DatabaseOverrides = {}): Promise<SiteDatabase> {
  const settingsText = await readOptional(join(siteDir, 'settings.php'))
  const drushrcText = await readOptional(join(siteDir, 'drushrc.php'))
  return siteDatabaseFromTexts(siteDir, settingsText, drushrcText, overrides)
}

/**
 * The credentials of settings.php / drushrc.php given as text (a site folder's, or a backup tarball's members);
 * `where` names them in errors. The rules of readSiteDatabase.
 */
export function siteDatabaseFromTexts(
  where: string,
  settingsText: string | undefined,
  drushrcText: string | undefined,
  overrides: DatabaseOverrides = {},
): SiteDatabase {
  const siteDir = where
  if (settingsText === undefined && drushrcText === undefined) {
    throw new BkError(`${siteDir} has no settings.php or drushrc.php; is it a Drupal site folder (sites/<uri>)?`)
  }
  const candidates: Partial<SiteDatabase>[] = []
  if (settingsText !== undefined) {
    const fromSettings = credentialsFromSettings(settingsText)
    if (fromSettings) candidates.push(fromSettings)
  }
  if (drushrcText !== undefined) {
    const fromDrushrc = credentialsFromDrushrc(drushrcText)
    if (fromDrushrc) candidates.push(fromDrushrc)
  }
  const merged: Partial<SiteDatabase> = {}
  for (const c of candidates) {
    for (const [k, v] of Object.entries(c) as [keyof SiteDatabase, never][]) {
      if (merged[k] === undefined && v !== undefined) merged[k] = v
    }
  }
  for (const [k, v] of Object.entries(overrides) as [keyof SiteDatabase, never][]) if (v !== undefined) merged[k] = v
  const missing = (['database', 'username', 'driver'] as const).filter((k) => !merged[k])
  if (missing.length > 0) {
    const cloaked = settingsText !== undefined && usesServerCredentials(settingsText)
    throw new BkError(
      `cannot find the database ${missing.join(', ')} of ${siteDir} in settings.php or drushrc.php` +
        (cloaked ? ' (the credentials are cloaked in $_SERVER): give them with --db-url and BK_DB_PASSWORD' : ''),
    )
  }
  return {
    engine: engineOfDriver(merged.driver!),
    driver: merged.driver!,
    database: merged.database!,
    username: merged.username!,
    password: merged.password ?? '',
    host: merged.host || 'localhost',
    port: merged.port,
    from: merged.from ?? 'flags',
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if ((error as NodeJS.ErrnoException).code === 'EACCES') {
      throw new BkError(`cannot read ${file} (permission denied); run bk as the Aegir user or root`)
    }
    throw error
  }
}

export function credentialsFromSettings(text: string): Partial<SiteDatabase> | undefined {
  const php = new PhpConfig(text)
  const db = php.get('$databases', 'default', 'default')
  if (db?.kind === 'array' && php.string('$databases', 'default', 'default', 'database')) {
    const port = php.string('$databases', 'default', 'default', 'port')
    return {
      driver: php.string('$databases', 'default', 'default', 'driver'),
      database: php.string('$databases', 'default', 'default', 'database'),
      username: php.string('$databases', 'default', 'default', 'username'),
      password: php.string('$databases', 'default', 'default', 'password'),
      host: php.string('$databases', 'default', 'default', 'host'),
      port: port ? Number(port) : undefined,
      from: 'settings.php $databases',
    }
  }
  const url = php.string('$db_url', 'default') ?? php.string('$db_url')
  if (url) return {...parseDrupal6Url(url), from: 'settings.php $db_url'}
  return undefined
}

/** D6 `$db_url` = `mysqli://user:pass@host:port/db`; user and password are urldecoded as Drupal 6 does. */
export function parseDrupal6Url(url: string): Partial<SiteDatabase> {
  const m = /^([a-z]+):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^:/]*)(?::(\d+))?\/(.+)$/i.exec(url)
  if (!m) throw new BkError(`cannot parse $db_url '${url.replace(/:[^:@/]*@/, ':***@')}' in settings.php`)
  const dec = (s: string | undefined) => (s === undefined ? undefined : decodeURIComponent(s.replace(/\+/g, ' ')))
  return {
    driver: m[1],
    username: dec(m[2]),
    password: dec(m[3]),
    host: m[4] || undefined,
    port: m[5] ? Number(m[5]) : undefined,
    database: dec(m[6]),
  }
}

export function credentialsFromDrushrc(text: string): Partial<SiteDatabase> | undefined {
  const php = new PhpConfig(text)
  const get = (k: string) => php.string('$options', k)
  if (!get('db_name')) return undefined
  const port = get('db_port')
  return {
    driver: get('db_type'),
    database: get('db_name'),
    username: get('db_user'),
    password: get('db_passwd'),
    host: get('db_host'),
    port: port ? Number(port) : undefined,
    from: 'drushrc.php',
  }
}

/** settings.php reads its credentials from $_SERVER['db_*'] (Aegir's cloaked form). */
export function usesServerCredentials(text: string): boolean {
  const tokens = lexPhp(text)
  return tokens.some(
    (t, i) => t.text === '$_SERVER' && tokens[i + 1]?.text === '[' && /^db_/.test(tokens[i + 2]?.value ?? ''),
  )
}
