import {BkCommand} from '@bkcli/core'
import {Flags} from '@oclif/core'
import {siteFlags} from '../../flags.js'
import {listSite, listText} from '../../inspect.js'
import {resolveSite} from '../../settings.js'

export default class List extends BkCommand<typeof List> {
  static override summary = 'List the filestorage and blob backups, newest chain first.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {
    ...siteFlags,
    snapshot: Flags.boolean({description: 'List the snapshot locations.', exclusive: ['zip']}),
    zip: Flags.boolean({description: 'List the zip locations.'}),
  }

  async run() {
    const {flags} = await this.parse(List)
    const site = await resolveSite(flags)
    const result = await listSite(site, flags.snapshot ? 'snapshot' : flags.zip ? 'zip' : 'backup')
    return this.report(result, listText)
  }
}
