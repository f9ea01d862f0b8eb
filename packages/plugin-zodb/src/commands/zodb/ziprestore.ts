import {RestoreCommand, restoreDescription, restoreExamples} from '../../command-families.js'

export default class Ziprestore extends RestoreCommand {
  static override summary = 'Restore from the zip locations (bin/ziprestore).'
  static override description = restoreDescription
  static override examples = restoreExamples
  protected readonly mode = 'zip'
}
