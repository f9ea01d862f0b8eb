import {ListCommand, locationFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import {tracStore} from '../../store.js'

export default class List extends ListCommand<typeof List> {
  static override summary = 'List the Trac backups in a backup location, newest first.'
  static override examples = ['<%= config.bin %> trac list --location /backup/trac']
  static override args = {location: Args.string({description: 'The backup location (or --location).'})}
  static override flags = {location: locationFlag('the directory to list.')}

  protected async store() {
    const location = this.flags.location ?? this.args.location
    if (!location) throw new BkError('give the backup location: --location <dir>')
    return tracStore(location)
  }
}
