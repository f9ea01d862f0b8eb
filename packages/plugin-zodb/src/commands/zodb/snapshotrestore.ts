import {RestoreCommand, restoreDescription, restoreExamples} from '../../command-families.js'

export default class Snapshotrestore extends RestoreCommand {
  static override summary = 'Restore from the snapshot locations (bin/snapshotrestore).'
  static override description = restoreDescription
  static override examples = restoreExamples
  protected readonly mode = 'snapshot'
}
