import {BkCommand, retentionFlags, retentionFromFlags} from '@bkcli/core'
import {Args} from '@oclif/core'
import {pruneBackups} from '../../backup.js'

export default class Prune extends BkCommand<typeof Prune> {
  static override summary = 'Remove old Trac backups from a backup location by retention rules.'
  static override description =
    "Each environment's backups are pruned on their own; the newest backup of each is always kept. Use --dry-run to see what would go."
  static override examples = [
    '<%= config.bin %> trac prune /backup/trac --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run',
  ]
  static override args = {location: Args.string({description: 'The backup location.', required: true})}
  static override flags = {...retentionFlags}

  async run() {
    const {args, flags} = this
    if (!flags['dry-run'] && !flags.yes) {
      await this.confirmOrAbort(`Remove old backups from ${args.location}?`, `prune backups in ${args.location}`)
    }
    const result = await pruneBackups(args.location, retentionFromFlags(flags, 'utc'), flags['dry-run'])
    return this.report(result, (r) => [
      ...r.removed.map((p) => `${r.dryRun ? 'Would remove' : 'Removed'} ${p}`),
      `${r.kept.length} kept, ${r.removed.length} ${r.dryRun ? 'to remove (--dry-run: nothing removed)' : 'removed'}.`,
    ])
  }
}
