import {BkCommand, BkError, hooksFromFlags, retentionFromFlags} from '@bkcli/core'
import {Flags} from '@oclif/core'
import {backupFlags} from '../../flags.js'
import {backupText, damageOf} from '../../render.js'
import {resolveSite} from '../../settings.js'
import {backupSite} from '../../site.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up the filestorage and its blobs: incremental when possible, else full (bin/backup).'
  static override description =
    `Writes repozo's repository format (.fsz/.deltafsz, .dat, .index), readable by repozo and by bk.
An incremental backup reads only the new transactions: Data.fs is checked at the previous end offset (transaction
header, tid, redundant length, first and last 64 KiB); a pack or a truncation makes it a full backup.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --datafs var/filestorage/Data.fs --location /backups/plone --keep 3 -q',
  ]
  static override flags = {
    ...backupFlags,
    full: Flags.boolean({description: "Always make a full backup (the recipe's `full` option)."}),
  }

  async run() {
    const {flags} = await this.parse(Backup)
    if (flags['dry-run']) throw new BkError('--dry-run is not supported by backups; run without it')
    const site = await resolveSite(flags)
    const result = await backupSite(site, {
      mode: 'backup',
      full: flags.full,
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
