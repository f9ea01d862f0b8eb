import {BkCommand, BkError, hooksFromFlags} from '@bkcli/core'
import {restoreArgs, restoreFlags} from '../../flags.js'
import {restoreText} from '../../render.js'
import {parseRestoreDate} from '../../repozo-date.js'
import {resolveSite} from '../../settings.js'
import {restoreSite} from '../../site.js'

export default class Snapshotrestore extends BkCommand<typeof Snapshotrestore> {
  static override summary = 'Restore from the snapshot locations (bin/snapshotrestore).'
  static override description =
    `Nothing live is replaced until the restored Data.fs is complete and verified: it is written to
<Data.fs>.part, each backup file's size and md5 and the FileStorage structure are checked, it is fsynced and
renamed over Data.fs. Refuses while Data.fs.lock is held by a running Zope/ZEO (unless --ignore-lock).`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> 2024-01-02-10-30-00 --no-prompt',
  ]
  static override args = restoreArgs
  static override flags = restoreFlags

  async run() {
    const {args, flags} = await this.parse(Snapshotrestore)
    if (args.date && flags.date && args.date !== flags.date) {
      throw new BkError(`two different dates given (${args.date} and --date ${flags.date}); give one`)
    }
    const given = args.date ?? flags.date
    const date = given === undefined ? undefined : parseRestoreDate(given)
    const site = await resolveSite(flags)
    const result = await restoreSite(site, {
      mode: 'snapshot',
      date,
      ignoreLock: flags['ignore-lock'],
      dryRun: flags['dry-run'],
      confirm: (question) => this.confirmOrAbort(question, 'replace the filestorage'),
      hooks: hooksFromFlags(flags),
      log: (m) => this.info(m),
      progress: (label, total) => this.progress(label, total),
    })
    return this.report(result, restoreText)
  }
}
