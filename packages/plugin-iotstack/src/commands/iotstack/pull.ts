import {locationFlag, PullCommand} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import {stackStore} from '../../list.js'
import {checkBackup} from '../../verify.js'

export default class Pull extends PullCommand<typeof Pull> {
  static override summary = 'Fetch an off-site copy (restic repository or rclone remote) back into the backups folder.'
  static override description =
    `The source is what backup --copy-to took: restic:<repository> (password from RESTIC_PASSWORD_FILE or RESTIC_PASSWORD) or an rclone destination (remote:path). Without --name, the newest archive is fetched. It lands where it was (backups/backup/ or rolling/), is verified, and is ready for bk iotstack restore.`
  static override examples = [
    '<%= config.bin %> iotstack pull gdrive-crypt:IOTstack ~/IOTstack',
    'RESTIC_PASSWORD_FILE=~/.restic-pw <%= config.bin %> iotstack pull restic:/mnt/usb/restic --name backup_2026-11-21_2219.tar.gz',
    '<%= config.bin %> iotstack pull restic:/mnt/usb/restic --list',
  ]
  static override args = {
    ...PullCommand.sourceArg,
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    ...PullCommand.pullFlags,
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
  }

  protected async store() {
    return stackStore(this.args['stack-dir'], this.flags.location)
  }

  protected override verifyPulled(path: string) {
    return checkBackup(path, this.args['stack-dir'], {location: this.flags.location})
  }
}
