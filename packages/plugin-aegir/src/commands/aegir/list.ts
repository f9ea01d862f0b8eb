import {BkCommand} from '@bkcli/core'
import {Args} from '@oclif/core'
import {locationFlag} from '../../flags.js'
import {listBackups, listingLine} from '../../list.js'

export default class List extends BkCommand<typeof List> {
  static override summary = 'List a site\'s backups, newest first, as "Date/time - Reason".'
  static override description =
    `Reads the backup location for <uri>-YYYYmmdd.HHMMSS.tar.gz files. The reason is the description given at backup time (from bk's sidecar); a backup without one reads "Generated on request", as in Aegir.`
  static override examples = ['<%= config.bin %> aegir list /var/aegir/platforms/drupal-7/sites/example.com']
  static override args = {
    site: Args.string({description: 'The site folder, or just its uri.', required: true}),
  }
  static override flags = {location: locationFlag}

  async run() {
    const {args, flags} = this
    const result = await listBackups(flags.location, args.site)
    return this.report(result, (r) =>
      r.length === 0 ? `No backups of ${args.site} in ${flags.location}.` : r.map(listingLine),
    )
  }
}
