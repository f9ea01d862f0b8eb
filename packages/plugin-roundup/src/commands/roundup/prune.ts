import {locationFlag, PruneCommand} from '@bkcli/core/command'
import type {ArtifactStore} from '@bkcli/core/workflow'
import {roundupStore} from '../../store.js'

export default class Prune extends PruneCommand<typeof Prune> {
  static override summary = 'Remove older Roundup backups from a location by the retention rules (per tracker).'
  static override examples = [
    '<%= config.bin %> roundup prune --location /srv/tracker.backups --keep 7',
    '<%= config.bin %> roundup prune --location /backup/roundup --keep-daily 7 --keep-weekly 4 --dry-run',
  ]
  static override flags = {
    ...PruneCommand.pruneFlags,
    location: locationFlag('the directory to prune', {required: true}),
  }

  protected async store(): Promise<ArtifactStore> {
    return roundupStore(this.flags.location as string)
  }
}
