import {dryRunFlag} from '@bkcli/core/command'
import {BackupCommand, backupExamples} from '../../command-families.js'
import {backupLocationFlags, hideFlags, offsiteFlags, snapshotbackupFlags, zipLocationFlags} from '../../flags.js'

export default class Snapshotbackup extends BackupCommand {
  static override summary = 'Make a full backup into the snapshot locations (bin/snapshotbackup).'
  static override examples = backupExamples
  static override flags = {
    ...dryRunFlag,
    ...hideFlags(snapshotbackupFlags, ...backupLocationFlags, ...zipLocationFlags),
    ...offsiteFlags,
  }
  protected readonly mode = 'snapshot'
}
