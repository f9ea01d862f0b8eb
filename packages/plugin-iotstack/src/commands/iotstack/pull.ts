import {BkCommand} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {pullBackup} from '../../pull.js'

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
    name: Flags.string({description: 'Archive name to fetch (default: the newest).'}),
    location: Flags.string({description: 'Backups folder (default <stack>/backups).', aliases: ['backups-dir']}),
  }

  async run() {
    const {args, flags} = this
    const result = await pullBackup(args.source, args['stack-dir'], {name: flags.name, location: flags.location})
    return this.report(result, (r) => [
      `Fetched ${r.ref} from ${r.source} (${r.tool}); verified: ${r.verified.entries} entries${r.verified.includesEnv ? ', .env included' : ''}.`,
      `Restore it with: bk iotstack restore ${r.ref}`,
    ])
  }
}
