import {locationFlag, PruneCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import {tracStore} from '../../store.js'

export default class Prune extends PruneCommand<typeof Prune> {
  static override summary = 'Remove old Trac backups from a backup location by retention rules.'
  static override description =
    "Each environment's backups are pruned on their own; the newest backup of each is always kept. Use --dry-run to see what would go."
  static override examples = [
    '<%= config.bin %> trac prune --location /backup/trac --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run',
  ]
  static override args = {location: Args.string({description: 'The backup location (or --location).'})}
  static override flags = {...PruneCommand.pruneFlags, location: locationFlag('the directory to prune.')}

  protected async store() {
    const location = this.flags.location ?? this.args.location
    if (!location) throw new BkError('give the backup location: --location <dir>')
    return tracStore(location)
  }
}
