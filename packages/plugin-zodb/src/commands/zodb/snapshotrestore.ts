import {Flags} from '@bkcli/core/oclif'
import {RestoreCommand, restoreDescription, restoreExamples} from '../../command-families.js'
import {backupLocationFlags, hideFlags, zipLocationFlags} from '../../flags.js'

export default class Snapshotrestore extends RestoreCommand {
  static override summary = 'Restore from the snapshot locations (bin/snapshotrestore).'
  static override description = restoreDescription
  static override examples = restoreExamples
  static override flags = {
    ...hideFlags(RestoreCommand.flags, ...backupLocationFlags, ...zipLocationFlags),
    'enable-snapshotrestore': Flags.boolean({
      description:
        "Allow snapshotrestore (the recipe's enable_snapshotrestore); --no-enable-snapshotrestore (or `enable_snapshotrestore: false` in bk.yml) makes it refuse, for production sites.",
      allowNo: true,
      default: true,
      aliases: ['enable_snapshotrestore'],
    }),
  }
  protected readonly mode = 'snapshot'

  protected override disabled(): string | undefined {
    return (this.flags as {'enable-snapshotrestore'?: boolean})['enable-snapshotrestore'] === false
      ? 'snapshotrestore is disabled by enable_snapshotrestore = false (bk.yml or --no-enable-snapshotrestore); restore with `bk zodb restore`, or enable it'
      : undefined
  }
}
