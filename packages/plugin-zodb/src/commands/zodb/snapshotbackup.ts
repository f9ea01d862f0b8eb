import {BackupCommand, backupExamples} from '../../command-families.js'

export default class Snapshotbackup extends BackupCommand {
  static override summary = 'Make a full backup into the snapshot locations (bin/snapshotbackup).'
  static override examples = backupExamples
  protected readonly mode = 'snapshot'
}
