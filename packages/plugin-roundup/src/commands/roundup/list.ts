import {ListCommand, locationFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import type {ArtifactStore} from '@bkcli/core/workflow'
import {roundupStore} from '../../store.js'

export default class List extends ListCommand<typeof List> {
  static override summary = 'List the Roundup backups in a backup location, newest first.'
  static override examples = ['<%= config.bin %> roundup list --location /srv/tracker.backups']
  static override args = {location: Args.string({description: 'the backup location (or --location)'})}
  static override flags = {location: locationFlag('the directory to list')}

  protected async store(): Promise<ArtifactStore> {
    const location = this.flags.location ?? this.args.location
    if (!location) throw new BkError('give the backup location: --location <dir>', {exit: 2, code: 'EUSAGE'})
    return roundupStore(location)
  }
}
