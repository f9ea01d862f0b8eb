import {locationFlag, PullCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import {roundupStore} from '../../store.js'
import {verifyBackup} from '../../verify.js'

export default class Pull extends PullCommand<typeof Pull> {
  static override summary = 'Fetch an off-site copy (restic repository or rclone remote) back into a backup location.'
  static override description =
    'The source is what backup --copy-to took: restic:<repository> (password from RESTIC_PASSWORD_FILE or ' +
    'RESTIC_PASSWORD) or an rclone destination (remote:path). Without --name the newest backup is fetched; --all ' +
    'fetches every one not here yet. Each is verified, ready for bk roundup restore.'
  static override examples = ['<%= config.bin %> roundup pull restic:/mnt/usb/restic --location /srv/tracker.backups']
  static override args = {
    ...PullCommand.sourceArg,
    location: Args.string({description: 'the backup location (or --location)'}),
  }
  static override flags = {...PullCommand.pullFlags, location: locationFlag('the directory to fetch into')}

  protected async store() {
    const location = this.flags.location ?? this.args.location
    if (!location) throw new BkError('give the backup location: --location <dir>', {exit: 2, code: 'EUSAGE'})
    return roundupStore(location)
  }

  protected override async verifyPulled(path: string) {
    const r = await verifyBackup(path)
    return {...r, artifact: r.backup}
  }
}
