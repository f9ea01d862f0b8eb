import {existsSync} from 'node:fs'
import {lstat, readdir, stat} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {journalPathFor, lockTargets, recoverCommit} from '@bkcli/core/workflow'
import {type DatabaseOverrides, readSiteDatabase, type SiteDatabase} from './drupal/credentials.js'
import {type DrupalVersion, detectDrupalVersion} from './drupal/version.js'

/** A Drupal site folder as Aegir lays it out: `<platform>/sites/<uri>/` holding settings.php and drushrc.php. */
export interface AegirSite {
  /** Absolute path of the site folder. */
  dir: string
  /** The site's uri: the folder's name (example.com). */
  uri: string
  /** The platform root (the folder holding `sites/`), when the site sits in one. */
  platformRoot?: string
  database: SiteDatabase
  drupal?: DrupalVersion
}

export interface OpenSiteOptions {
  /** For a cloaked settings.php: credentials from flags/config. */
  database?: DatabaseOverrides
}

export async function openSite(siteDir: string, options: OpenSiteOptions = {}): Promise<AegirSite> {
  const dir = resolve(siteDir)
  if (!existsSync(dir)) await settleCommit(dir)
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory())
    throw new BkError(`${siteDir} is not a folder; give the site folder (<platform>/sites/<uri>)`)
  const uri = basename(dir)
  const parent = dirname(dir)
  const platformRoot = basename(parent) === 'sites' ? dirname(parent) : undefined
  const database = await readSiteDatabase(dir, options.database)
  const drupal = await detectDrupalVersion(dir, platformRoot)
  return {dir, uri, platformRoot, database, drupal}
}

const settled = new Map<string, string[]>()

/**
 * A restore killed in the middle of its folder swap leaves the site folder moved aside: before the site can be
 * opened (its settings read), the swap is finished under the site's lock. What was done is told by recoverSite.
 */
async function settleCommit(dir: string): Promise<void> {
  const journal = journalPathFor(dir)
  if (!existsSync(journal)) return
  const release = await lockTargets([dir], 'bk aegir (finishing an interrupted swap)')
  try {
    settled.set(dir, await recoverCommit(journal))
  } finally {
    await release()
  }
}

/** The lines of a swap openSite finished for this site folder (once). */
export function takeSettled(dir: string): string[] {
  const lines = settled.get(dir) ?? []
  settled.delete(dir)
  return lines
}

/** Folders under `sites/` that are not sites of their own, as Aegir skips them. */
const NOT_SITES = new Set(['all', 'default'])

/**
 * The site folders under a platform (`<platform>/sites/*` with a settings.php, not `all`/`default`, not a
 * symlink: Aegir's aliases are links to the real folder), or under every platform of an Aegir root
 * (`<root>/platforms/*`) or of a folder of platforms. Sorted by path.
 */
export async function discoverSites(root: string): Promise<string[]> {
  const abs = resolve(root)
  const platforms = await platformsUnder(abs)
  if (platforms.length === 0) {
    throw new BkError(`no Drupal platform found in ${root}; give a platform folder (with sites/) or the Aegir root`)
  }
  const sites: string[] = []
  for (const platform of platforms) {
    const sitesDir = join(platform, 'sites')
    for (const name of (await readdir(sitesDir)).sort()) {
      // hidden names are bk's stages and locks; <uri>.bk-prev-<pid> is a site being swapped out by a restore
      if (NOT_SITES.has(name) || name.startsWith('.') || /\.bk-prev-\d+$/.test(name)) continue
      const dir = join(sitesDir, name)
      const info = await lstat(dir)
      if (!info.isDirectory()) continue
      if (await isFile(join(dir, 'settings.php'))) sites.push(dir)
    }
  }
  return sites
}

async function platformsUnder(root: string): Promise<string[]> {
  if (await isDir(join(root, 'sites'))) return [root]
  const container = (await isDir(join(root, 'platforms'))) ? join(root, 'platforms') : root
  const found: string[] = []
  for (const name of (await readdir(container).catch(() => [] as string[])).sort()) {
    const dir = join(container, name)
    if ((await lstat(dir)).isDirectory() && (await isDir(join(dir, 'sites')))) found.push(dir)
  }
  return found
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false
}
async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false
}
