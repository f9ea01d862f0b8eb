import {BkCommand, formatListing, listingRows} from '@bkcli/core'
import {Args} from '@oclif/core'
import {listBackups} from '../../backup.js'

export default class List extends BkCommand<typeof List> {
  static override summary = 'List the Roundup backups in a backup location, newest first.'
  static override examples = ['<%= config.bin %> roundup list /srv/tracker.backups']
  static override args = {location: Args.string({description: 'the backup location', required: true})}

  async run() {
    const entries = await listBackups(this.args.location)
    return this.report(listingRows(entries), (rows) => formatListing(rows, this.args.location))
  }
}
