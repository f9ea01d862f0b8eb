import {BkCommand, retentionFlags, retentionFromFlags} from '@bkcli/core'
import {Flags} from '@oclif/core'
import {siteFlags} from '../../flags.js'
import {resolveSite} from '../../settings.js'
import {pruneSite} from '../../site.js'

export default class Prune extends BkCommand<typeof Prune> {
  static override summary =
    'Remove old backups: whole chains (a full backup with its incrementals) and their blob backups.'
  static override description =
    `Chosen by the UTC stamps in the names, never by mtime; files bk does not recognise are never removed.
Backups apply the same retention after each run; prune applies it on demand (with --dry-run to see the plan).`
  static override examples = ['<%= config.bin %> <%= command.id %> --keep 3 --dry-run']
  static override flags = {
    ...siteFlags,
    ...retentionFlags,
    'keep-blob-days': Flags.integer({
      min: 0,
      default: 14,
      description: 'With --only-blobs: keep blob backups younger than this many days.',
    }),
    snapshot: Flags.boolean({description: 'Prune the snapshot locations.', exclusive: ['zip']}),
    zip: Flags.boolean({description: 'Prune the zip locations.'}),
  }

  async run() {
    const {flags} = await this.parse(Prune)
    const site = await resolveSite(flags)
    const mode = flags.snapshot ? 'snapshot' : flags.zip ? 'zip' : 'backup'
    const retention = retentionFromFlags(flags)
    const plan = await pruneSite(site, {mode, retention, keepBlobDays: flags['keep-blob-days'], dryRun: true})
    const count = plan.storages.reduce((n, s) => n + s.removed.length, 0)
    if (flags['dry-run'] || count === 0) {
      return this.report(plan, (r) =>
        count === 0 ? 'Nothing to remove.' : r.storages.flatMap((s) => s.removed.map((p) => `would remove ${p}`)),
      )
    }
    await this.confirmOrAbort(`Remove ${count} old backup file(s)?`, 'remove old backups')
    const result = await pruneSite(site, {mode, retention, keepBlobDays: flags['keep-blob-days']})
    return this.report(result, (r) => r.storages.flatMap((s) => s.removed.map((p) => `removed ${p}`)))
  }
}
