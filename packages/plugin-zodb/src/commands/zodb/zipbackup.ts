import {BackupCommand, backupExamples} from '../../command-families.js'

export default class Zipbackup extends BackupCommand {
  static override summary =
    'Make a gzipped full backup and a blob tar archive into the zip locations, keeping one (bin/zipbackup).'
  static override examples = backupExamples
  protected readonly mode = 'zip'
}
