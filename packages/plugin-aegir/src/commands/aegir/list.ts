import {basename, resolve} from 'node:path'
import {ListCommand} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import {locationFlag, locationOf} from '../../flags.js'
import {siteStore} from '../../store.js'

export default class List extends ListCommand<typeof List> {
  static override summary = "List a site's backups, newest first, with the reason each was made."
  static override description =
    `Reads the backup location for <uri>-YYYYmmdd.HHMMSS.tar.gz files. The note is the description given at backup time (from bk's sidecar); a backup without one (made by provision) reads "Generated on request", as in Aegir.`
  static override examples = ['<%= config.bin %> aegir list /var/aegir/platforms/drupal-7/sites/example.com']
  static override args = {
    site: Args.string({description: 'The site folder, or just its uri.', required: true}),
  }
  static override flags = {location: locationFlag}

  protected async store() {
    return siteStore(locationOf(this.flags), basename(resolve(this.args.site)))
  }
}
