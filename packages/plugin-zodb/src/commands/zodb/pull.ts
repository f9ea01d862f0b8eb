import {PullCommand} from '@bkcli/core/command'
import {Flags} from '@bkcli/core/oclif'
import {siteFlags} from '../../flags.js'
import {resolveSite} from '../../settings.js'
import {siteStore} from '../../store.js'

export default class Pull extends PullCommand<typeof Pull> {
  static override summary =
    'Fetch off-site copies (restic repository or rclone remote) back into the backup locations: a chain whole.'
  static override description =
    `The source is what backup --copy-to took: restic:<repository> (password from RESTIC_PASSWORD_FILE or RESTIC_PASSWORD) or an rclone destination (remote:path). A chain (full backup, incrementals, .dat, .index, blob backups) comes back whole, under the names it had; without --name the newest chain, with --all every one not here yet. Check them with bk zodb verify, restore with bk zodb restore.`
  static override examples = ['<%= config.bin %> <%= command.id %> restic:/mnt/usb/restic --all']
  static override args = {...PullCommand.sourceArg}
  static override flags = {
    ...PullCommand.pullFlags,
    ...siteFlags,
    snapshot: Flags.boolean({description: 'Into the snapshot locations.', exclusive: ['zip']}),
    zip: Flags.boolean({description: 'Into the zip locations.'}),
  }

  protected async store() {
    const site = await resolveSite(this.flags)
    return siteStore(site, this.flags.snapshot ? 'snapshot' : this.flags.zip ? 'zip' : 'backup')
  }
}
