import {BkCommand, BkError, hooksFromFlags, retentionFromFlags} from '@bkcli/core'
import {backupFlags} from '../../flags.js'
import {backupText, damageOf} from '../../render.js'
import {resolveSite} from '../../settings.js'
import {backupSite} from '../../site.js'

export default class Zipbackup extends BkCommand<typeof Zipbackup> {
  static override summary =
    'Make a gzipped full backup and a blob tar archive into the zip locations, keeping one (bin/zipbackup).'
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override flags = backupFlags

  async run() {
    const {flags} = await this.parse(Zipbackup)
    if (flags['dry-run']) throw new BkError('--dry-run is not supported by backups; run without it')
    const site = await resolveSite(flags)
    const result = await backupSite(site, {
      mode: 'zip',
      full: true,
      gzip: flags.gzip,
      archiveBlob: flags['archive-blob'],
      compressBlob: flags['compress-blob'],
      hardLinks: flags['hard-links'],
      retention: retentionFromFlags(flags),
      keepBlobDays: flags['keep-blob-days'],
      hooks: hooksFromFlags(flags),
      log: (m) => this.info(m),
      progress: (label, total) => this.progress(label, total),
    })
    this.report(result, backupText)
    const damage = damageOf(result)
    if (damage) {
      process.stderr.write(`bk: ${damage}\n`)
      this.exit(1)
    }
    return result
  }
}
