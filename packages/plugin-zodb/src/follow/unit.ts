// `bk zodb follow --print-unit`: core's follow unit (the same for every follower) with zodb's description. systemd
// stops it with SIGTERM (the follower ships what is complete and exits 0) and restarts it after a crash (it
// resumes from the last shipped position, verified against the .dat checksum).
import {followUnit} from '@bkcli/core/follow'

export interface UnitOptions {
  /** the command line that starts the follower: node, the bk script, and the arguments */
  argv: string[]
  datafs: string
  location: string
  user?: string
}

export function systemdUnit(options: UnitOptions): string {
  return followUnit({
    argv: options.argv,
    user: options.user,
    description: `bk zodb follow: continuous repozo backup of ${options.datafs} into ${options.location}`,
  })
}
