import {BackupCommand, backupExamples} from '../../command-families.js'
import {backupLocationFlags, enableZipbackupFlag, hideFlags, snapshotLocationFlags} from '../../flags.js'

export default class Zipbackup extends BackupCommand {
  static override summary =
    'Make a gzipped full backup and a blob tar archive into the zip locations, keeping one (bin/zipbackup).'
  static override examples = backupExamples
  static override flags = {
    // no --gzip, --archive-blob, --hard-links, retention: a zip backup is always gzipped, archived, and alone
    ...hideFlags(BackupCommand.flags, ...backupLocationFlags, ...snapshotLocationFlags),
    ...enableZipbackupFlag,
  }
  protected readonly mode = 'zip'

  protected override disabled(): string | undefined {
    return (this.flags as {'enable-zipbackup'?: boolean})['enable-zipbackup'] === false
      ? 'zipbackup is disabled by enable_zipbackup = false (bk.yml or --no-enable-zipbackup); use `bk zodb backup`, or enable it'
      : undefined
  }
}
