import {dryRunFlag} from '@bkcli/core/command'
import {BackupCommand, backupExamples} from '../../command-families.js'
import {backupFlags, hideFlags, offsiteFlags, snapshotLocationFlags, zipLocationFlags} from '../../flags.js'

export default class Fullbackup extends BackupCommand {
  static override summary = 'Make a full backup of the filestorage and its blobs (bin/backup with full = true).'
  static override examples = backupExamples
  static override flags = {
    ...dryRunFlag,
    ...hideFlags(backupFlags, ...snapshotLocationFlags, ...zipLocationFlags),
    ...offsiteFlags,
  }
  protected readonly mode = 'backup'
}
