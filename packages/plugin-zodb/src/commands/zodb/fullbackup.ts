import {BackupCommand, backupExamples} from '../../command-families.js'

export default class Fullbackup extends BackupCommand {
  static override summary = 'Make a full backup of the filestorage and its blobs (bin/backup with full = true).'
  static override examples = backupExamples
  protected readonly mode = 'backup'
}
