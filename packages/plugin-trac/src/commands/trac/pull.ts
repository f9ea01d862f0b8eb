import {locationFlag, PullCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import {tracStore} from '../../store.js'
import {verifyBackup} from '../../verify.js'

export default class Pull extends PullCommand<typeof Pull> {
  static override summary = 'Fetch an off-site copy (restic repository or rclone remote) back into a backup location.'
  static override description =
    `The source is what backup --copy-to took: restic:<repository> (password from RESTIC_PASSWORD_FILE or RESTIC_PASSWORD) or an rclone destination (remote:path). Without --name the newest backup is fetched; --all fetches every one not here yet. Each is verified, ready for bk trac restore.`
  static override examples = [
    '<%= config.bin %> trac pull restic:/mnt/usb/restic --location /backup/trac',
    '<%= config.bin %> trac pull secure:trac /backup/trac --list',
  ]
  static override args = {
    ...PullCommand.sourceArg,
    location: Args.string({description: 'The backup location (or --location).'}),
  }
  static override flags = {...PullCommand.pullFlags, location: locationFlag('the directory to fetch into.')}

  protected async store() {
    const location = this.flags.location ?? this.args.location
    if (!location) throw new BkError('give the backup location: --location <dir>', {exit: 2, code: 'EUSAGE'})
    return tracStore(location)
  }

  protected override async verifyPulled(path: string) {
    return verifyBackup(path)
  }
}
