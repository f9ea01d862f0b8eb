import {RestoreCommand, restoreDescription, restoreExamples} from '../../command-families.js'
import {hideFlags, snapshotLocationFlags, zipLocationFlags} from '../../flags.js'

export default class Restore extends RestoreCommand {
  static override summary =
    'Restore the filestorage and its blobs as of a date, from the backup locations (bin/restore).'
  static override description = restoreDescription
  static override examples = restoreExamples
  static override flags = hideFlags(RestoreCommand.flags, ...snapshotLocationFlags, ...zipLocationFlags)
  protected readonly mode = 'backup'
}
