import type {BkFlags} from '@bkcli/core'
import {dryRunFlag} from '@bkcli/core/command'
import {Flags} from '@bkcli/core/oclif'
import {BackupCommand} from '../../command-families.js'
import {backupFlags, hideFlags, offsiteFlags, snapshotLocationFlags, zipLocationFlags} from '../../flags.js'

export default class Backup extends BackupCommand {
  static override summary = 'Back up the filestorage and its blobs: incremental when possible, else full (bin/backup).'
  static override description =
    `Writes repozo's repository format (.fsz/.deltafsz, .dat, .index), readable by repozo and by bk.
An incremental backup reads only the new transactions: Data.fs is checked at the previous end offset (transaction
header, tid, redundant length, first and last 64 KiB); a pack or a truncation makes it a full backup.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --datafs var/filestorage/Data.fs --location /backups/plone --keep 3 -q',
  ]
  static override flags = {
    ...dryRunFlag,
    ...hideFlags(backupFlags, ...snapshotLocationFlags, ...zipLocationFlags),
    ...offsiteFlags,
    full: Flags.boolean({description: "Always make a full backup (the recipe's `full` option)."}),
  }
  protected readonly mode = 'backup'

  // Incremental unless --full (or bk.yml's `full: true`) asks otherwise.
  protected override wantsFull(): boolean {
    return (this.flags as BkFlags<typeof Backup>).full
  }
}
