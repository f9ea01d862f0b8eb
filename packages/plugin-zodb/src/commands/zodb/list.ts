import {ListCommand} from '@bkcli/core/command'
import {Flags} from '@bkcli/core/oclif'
import {siteFlags} from '../../flags.js'
import {resolveSite} from '../../settings.js'
import {siteStore} from '../../store.js'

export default class List extends ListCommand<typeof List> {
  static override summary =
    'List the backups: one line per chain (a full backup with its incrementals and blob backups).'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {
    ...siteFlags,
    snapshot: Flags.boolean({description: 'List the snapshot locations.', exclusive: ['zip']}),
    zip: Flags.boolean({description: 'List the zip locations.'}),
  }

  protected async store() {
    const site = await resolveSite(this.flags)
    return siteStore(site, this.flags.snapshot ? 'snapshot' : this.flags.zip ? 'zip' : 'backup')
  }
}
