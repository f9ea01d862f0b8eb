import {RestoreCommand, restoreDescription, restoreExamples} from '../../command-families.js'
import {backupLocationFlags, enableZipbackupFlag, hideFlags, snapshotLocationFlags} from '../../flags.js'

export default class Ziprestore extends RestoreCommand {
  static override summary = 'Restore from the zip locations (bin/ziprestore).'
  static override description = restoreDescription
  static override examples = restoreExamples
  static override flags = {
    ...hideFlags(RestoreCommand.flags, ...backupLocationFlags, ...snapshotLocationFlags),
    ...enableZipbackupFlag,
  }
  protected readonly mode = 'zip'

  protected override disabled(): string | undefined {
    return (this.flags as {'enable-zipbackup'?: boolean})['enable-zipbackup'] === false
      ? 'ziprestore is disabled by enable_zipbackup = false (bk.yml or --no-enable-zipbackup); restore with `bk zodb restore`, or enable it'
      : undefined
  }
}
