import {checkArchive} from '@bkcli/core/archive'
import {BkError, isBkError, messageOf} from '@bkcli/core/errors'
import type {VerifyOutput} from '@bkcli/core/workflow'
import {findArchive} from './restore.js'
import {readSidecar} from './sidecar.js'
import {STACK_MEMBERS, stackPaths} from './stack.js'

/**
 * `bk iotstack verify`: reads the whole archive (gzip checksums, tar headers), refuses entries a restore would
 * refuse, and for a bk archive compares it with its sidecar manifest. An archive made by IOTstack's backup.sh has no
 * manifest: it is checked for readability and shape only.
 */
export interface VerifyResult {
  archive: string
  ok: boolean
  madeBy: 'bk' | 'iotstack'
  entries: number
  bytes: number
  members: string[]
  includesEnv: boolean
  sha256: string
}

export async function verifyBackup(
  archiveArg: string,
  stackDir: string,
  options: {location?: string} = {},
): Promise<VerifyResult> {
  const archive = await findArchive(archiveArg, stackPaths(stackDir, options.location))
  const sidecar = await readSidecar(archive)
  // one read: entry checks, the file's sha256 and the top-level members together
  const top = new Set<string>()
  const check = await checkArchive(archive, {
    onEntry: (entry) => {
      const first = entry.path.split('/')[0]
      if (first && first !== '.') top.add(first)
    },
    outsideSymlinks: true,
  })
  if (check.unsafe.length > 0) throw new BkError(`${archive} holds entries a restore would refuse: ${check.unsafe[0]}`)
  const members = [...top]
  if (!members.some((m) => m === 'docker-compose.yml' || m === 'services' || m === 'volumes')) {
    throw new BkError(
      `${archive} is readable but is not an IOTstack backup (no docker-compose.yml, services/ or volumes/)`,
    )
  }
  const sha256 = check.sha256
  if (sidecar && sidecar.extra.archive.sha256 !== sha256) {
    throw new BkError(`${archive} does not match its manifest (sha256 differs): it changed after bk wrote it`)
  }
  const order = (m: string) => {
    const i = (STACK_MEMBERS as readonly string[]).indexOf(m)
    return i < 0 ? STACK_MEMBERS.length : i
  }
  members.sort((a, b) => order(a) - order(b) || a.localeCompare(b))
  return {
    archive,
    ok: true,
    madeBy: sidecar ? 'bk' : 'iotstack',
    entries: check.entries,
    bytes: check.bytes,
    members,
    includesEnv: members.includes('.env'),
    sha256,
  }
}

/** verify's result for core's VerifyCommand: what is wrong becomes a problem, not a throw. */
export async function checkBackup(
  archiveArg: string,
  stackDir: string,
  options: {location?: string} = {},
): Promise<VerifyOutput & Record<string, unknown>> {
  const archive = await findArchive(archiveArg, stackPaths(stackDir, options.location))
  try {
    const result = await verifyBackup(archive, stackDir, options)
    return {...result, artifact: archive, checked: result.entries, problems: []}
  } catch (error) {
    if (!isBkError(error)) throw error
    return {artifact: archive, ok: false, checked: 0, problems: [messageOf(error)]}
  }
}
