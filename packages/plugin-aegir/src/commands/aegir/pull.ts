import {PullCommand} from '@bkcli/core/command'
import {locationFlag, locationOf} from '../../flags.js'
import {siteStore} from '../../store.js'
import {verifyBackup} from '../../verify.js'

export default class Pull extends PullCommand<typeof Pull> {
  static override summary = 'Fetch an off-site copy (restic repository or rclone remote) back into the backups folder.'
  static override description =
    `The source is what backup --copy-to took: restic:<repository> (password from RESTIC_PASSWORD_FILE or RESTIC_PASSWORD) or an rclone destination (remote:path). Without --name the newest backup is fetched; --all fetches every one not here yet. The tarball and its sidecar are verified, ready for bk aegir restore.`
  static override examples = [
    '<%= config.bin %> aegir pull restic:/mnt/usb/restic --name example.com-20261121.221900.tar.gz',
  ]
  static override args = {...PullCommand.sourceArg}
  static override flags = {...PullCommand.pullFlags, location: locationFlag}

  protected async store() {
    return siteStore(locationOf(this.flags), '')
  }

  protected override async verifyPulled(path: string) {
    const result = await verifyBackup(path)
    return {...result, artifact: result.file, checked: result.entries}
  }
}
