import {BkError, runTool} from '@bkcli/core'

/**
 * `--user <name>`: when bk runs as root (cron, sudo), the artifacts it writes belong to that user, which is what
 * IOTstack's USER argument meant to do (its `chown` missed the final archives). Looked up through NSS (getent), so
 * LDAP users work too.
 */
export interface Owner {
  name: string
  uid: number
  gid: number
}

export async function resolveOwner(name: string | undefined): Promise<Owner | undefined> {
  if (!name) return undefined
  const euid = process.geteuid?.() ?? -1
  const result = await runTool('getent', ['passwd', name], {okExitCodes: [0, 1, 2, 3]})
  const fields = result.stdout.trim().split(':')
  if (result.exitCode !== 0 || fields.length < 4) {
    throw new BkError(`--user ${name}: no such user on this machine`)
  }
  const owner = {name, uid: Number(fields[2]), gid: Number(fields[3])}
  if (euid !== 0 && euid !== owner.uid) {
    throw new BkError(
      `--user ${name}: only root can give the backups to another user; run with sudo or leave --user out`,
    )
  }
  return owner
}
