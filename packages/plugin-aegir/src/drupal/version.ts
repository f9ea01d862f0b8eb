import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {PhpConfig} from '../php/assignments.js'

export interface DrupalVersion {
  major: number
  /** How it was found: a platform file, or settings.php's shape. */
  from: string
}

/**
 * The Drupal major version of a site: from the platform's code when it is there (D8+ `core/lib/Drupal.php`,
 * D7 `includes/bootstrap.inc`, D6 `modules/system/system.module`), else from the shape of the site's
 * settings.php as provision's templates write it (`$settings[…]` D8+, `$drupal_hash_salt`/`file_public_path`
 * D7, `file_directory_path` D6). Undefined when neither tells.
 */
export async function detectDrupalVersion(siteDir: string, platformRoot?: string): Promise<DrupalVersion | undefined> {
  if (platformRoot) {
    const probes: [string, RegExp][] = [
      ['core/lib/Drupal.php', /const\s+VERSION\s*=\s*['"](\d+)\./],
      ['includes/bootstrap.inc', /define\(\s*['"]VERSION['"]\s*,\s*['"](\d+)\./],
      ['modules/system/system.module', /define\(\s*['"]VERSION['"]\s*,\s*['"](\d+)\./],
    ]
    for (const [file, re] of probes) {
      const text = await readFile(join(platformRoot, file), 'utf8').catch(() => undefined)
      const m = text === undefined ? undefined : re.exec(text)
      if (m) return {major: Number(m[1]), from: file}
    }
  }
  const settings = await readFile(join(siteDir, 'settings.php'), 'utf8').catch(() => undefined)
  if (settings === undefined) return undefined
  return versionFromSettings(settings)
}

export function versionFromSettings(text: string): DrupalVersion | undefined {
  const php = new PhpConfig(text)
  const vars = new Set(php.assignments.map((a) => a.variable))
  const confKeys = new Set(php.assignments.filter((a) => a.variable === '$conf').map((a) => a.keys[0]))
  if (vars.has('$settings') || vars.has('$config_directories')) return {major: 8, from: 'settings.php ($settings)'}
  if (vars.has('$drupal_hash_salt') || confKeys.has('file_public_path')) {
    return {major: 7, from: 'settings.php ($drupal_hash_salt)'}
  }
  if (confKeys.has('file_directory_path') || (vars.has('$db_url') && !vars.has('$databases'))) {
    return {major: 6, from: 'settings.php ($db_url)'}
  }
  return undefined
}
