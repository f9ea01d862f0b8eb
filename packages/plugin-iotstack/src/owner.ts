import {BkError} from '@bkcli/core/errors'
import {runTool} from '@bkcli/core/process'

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
  // '--': a name such as '--help' is a key, not getent's option (whose help text would parse as a user)
  const result = await runTool('getent', ['passwd', '--', name], {okExitCodes: [0, 1, 2, 3]})
  const lines = result.stdout.trim().split('\n')
  const fields = (lines[0] ?? '').split(':')
  const id = (text: string | undefined) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined)
  const uid = id(fields[2])
  const gid = id(fields[3])
  if (result.exitCode !== 0 || lines.length !== 1 || uid === undefined || gid === undefined) {
    throw new BkError(`--user ${name}: no such user on this machine`)
  }
  const owner = {name, uid, gid}
  if (euid !== 0 && euid !== owner.uid) {
    throw new BkError(
      `--user ${name}: only root can give the backups to another user; run with sudo or leave --user out`,
    )
  }
  return owner
}
