import {BkCommand, dryRunFlag, locationFlag} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {planPull, pullBackup} from '../../pull.js'
import {recoverStack} from '../../recover.js'
import {stackPaths} from '../../stack.js'

export default class Pull extends BkCommand<typeof Pull> {
  static override summary = 'Fetch an off-site copy (rclone remote or restic repository) back into the backups folder.'
  static override description =
    `The source is what backup --copy-to took: an rclone destination (remote:path) or restic:<repository> (password from RESTIC_PASSWORD_FILE or RESTIC_PASSWORD). Without --name, the newest archive is fetched. It is verified and put under backups/backup/ (or rolling/), ready for bk iotstack restore.`
  static override examples = [
    '<%= config.bin %> iotstack pull gdrive-crypt:IOTstack ~/IOTstack',
    'RESTIC_PASSWORD_FILE=~/.restic-pw <%= config.bin %> iotstack pull restic:/mnt/usb/restic --name backup_2026-11-21_2219.tar.gz',
  ]
  static override args = {
    source: Args.string({description: 'rclone destination (remote:path) or restic:<repository>.', required: true}),
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    ...dryRunFlag,
    name: Flags.string({description: 'Archive name to fetch (default: the newest).'}),
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
  }

  async run() {
    const {args, flags} = this
    const options = {name: flags.name, location: flags.location}
    const paths = stackPaths(args['stack-dir'], flags.location)
    return this.execute(
      {
        kind: 'operation',
        plan: async () => planPull(args.source, args['stack-dir'], options),
        locks: [paths.dir, paths.backups],
        recover: () => recoverStack(paths),
        act: () => pullBackup(args.source, args['stack-dir'], options),
      },
      (r) => [
        `Fetched ${r.ref} from ${r.source} (${r.tool}); verified: ${r.verified.entries} entries${r.verified.includesEnv ? ', .env included' : ''}.`,
        `Restore it with: bk iotstack restore ${r.ref}`,
      ],
    )
  }
}
