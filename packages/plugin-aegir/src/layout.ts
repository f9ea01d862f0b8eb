import {chmod, lchown, lstat, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {BkError} from '@bkcli/core/errors'
import {walk} from '@bkcli/core/fs'

/** Folders provision gives mode 02770 and the web group (`_provision_drupal_create_directories`). */
const WEB_DIRS = [
  'files',
  'files/tmp',
  'files/images',
  'files/pictures',
  'files/css',
  'files/js',
  'files/ctools',
  'files/imagecache',
  'files/locations',
  'files/styles',
  'private',
  'private/files',
  'private/temp',
  'private/config',
  'private/config/sync',
]
/** Folders provision gives mode 02775. */
const CODE_DIRS = ['modules', 'themes', 'libraries']
/** Trees provision's deploy gives the web group recursively (`chgrp -R`). */
const WEB_TREES = ['files', 'private/files', 'private/temp', 'private/config']

/** A group name or number as a gid (names from /etc/group). */
export async function resolveGroup(group: string | number): Promise<number> {
  if (typeof group === 'number' || /^\d+$/.test(group)) return Number(group)
  const text = await readFile('/etc/group', 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && gid !== undefined) return Number(gid)
  }
  throw new BkError(`unknown group '${group}' (--web-group); give an existing group name or a number`)
}

/** The group of the site's `files` folder (what the web server uses there), when it exists. */
export async function currentWebGroup(siteDir: string): Promise<number | undefined> {
  const info = await lstat(join(siteDir, 'files')).catch(() => undefined)
  return info?.gid
}

/**
 * Gives a deployed site folder the modes and web group provision gives it: site folder 0755, settings.php 0440,
 * `files/…` and `private/…` 02770 with the web group (recursively for the trees the web server writes),
 * modules/themes/libraries 02775. Only folders that exist are touched (a backup's tree stays as it was made).
 */
export async function applyProvisionLayout(siteDir: string, webGroup: number | undefined): Promise<void> {
  const chgrp = async (path: string) => {
    if (webGroup === undefined) return
    const info = await lstat(path)
    if (info.gid !== webGroup) await lchown(path, info.uid, webGroup)
  }
  for (const tree of WEB_TREES) {
    const root = join(siteDir, tree)
    if (!(await isDir(root))) continue
    // a name that is not UTF-8 (lchown cannot reach it by its lossy name) is left as it is, not a failed restore
    for await (const entry of walk(root, {notUtf8: 'skip'})) await chgrp(entry.abs)
    await chgrp(root)
  }
  for (const dir of WEB_DIRS) {
    const path = join(siteDir, dir)
    if (!(await isDir(path))) continue
    await chgrp(path)
    await chmod(path, 0o2770)
  }
  for (const dir of CODE_DIRS) {
    const path = join(siteDir, dir)
    if (await isDir(path)) await chmod(path, 0o2775)
  }
  const settings = join(siteDir, 'settings.php')
  if (await lstat(settings).catch(() => undefined)) {
    await chgrp(settings)
    await chmod(settings, 0o440)
  }
  await chmod(siteDir, 0o755)
}

async function isDir(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false
}

/** A file owner: uid and gid. */
export interface Owner {
  uid: number
  gid: number
}

/**
 * `user[:group]` (names from /etc/passwd and /etc/group, or numbers) as uid/gid; without a group, the user's
 * primary group.
 */
export async function resolveOwner(text: string): Promise<Owner> {
  const [user = '', group] = text.split(':')
  let uid: number | undefined
  let primary: number | undefined
  if (/^\d+$/.test(user)) uid = Number(user)
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '')
  for (const line of passwd.split('\n')) {
    const [name, , id, gid] = line.split(':')
    if ((uid === undefined && name === user) || (uid !== undefined && Number(id) === uid)) {
      uid = Number(id)
      primary = Number(gid)
      break
    }
  }
  if (uid === undefined) throw new BkError(`unknown user '${user}' (--owner); give user[:group] as names or numbers`)
  const gid = group ? await resolveGroup(group) : primary
  if (gid === undefined) throw new BkError(`user ${user} has no primary group here; give --owner ${user}:<group>`)
  return {uid, gid}
}

/** Every entry of the folder (itself included) given the owner, symlinks themselves (lchown). */
export async function chownTree(dir: string, owner: Owner): Promise<void> {
  const set = async (path: string) => {
    const info = await lstat(path)
    if (info.uid !== owner.uid || info.gid !== owner.gid) await lchown(path, owner.uid, owner.gid)
  }
  for await (const entry of walk(dir, {notUtf8: 'skip'})) await set(entry.abs)
  await set(dir)
}
