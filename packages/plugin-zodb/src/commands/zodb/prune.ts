import {PruneCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Flags} from '@bkcli/core/oclif'
import {keepBlobDaysFlag, siteFlags} from '../../flags.js'
import {type Mode, resolveSite, type Site} from '../../settings.js'
import {retentionOf} from '../../site.js'
import {siteStore} from '../../store.js'

export default class Prune extends PruneCommand<typeof Prune> {
  static override summary =
    'Remove old backups: whole chains (a full backup with its incrementals) and their blob backups.'
  static override description =
    `Chosen by the UTC stamps in the names, never by mtime; files bk does not recognise are never removed, nor are
interrupted (partial) backups. Backups apply the same retention after each run; prune applies it on demand.`
  static override examples = ['<%= config.bin %> <%= command.id %> --keep 3 --dry-run']
  static override flags = {
    ...PruneCommand.pruneFlags,
    ...siteFlags,
    'keep-blob-days': keepBlobDaysFlag,
    snapshot: Flags.boolean({description: 'Prune the snapshot locations.', exclusive: ['zip']}),
    zip: Flags.boolean({
      description: 'Prune the zip locations to their one newest backup (as zipbackup does; no retention flags).',
    }),
  }

  private site?: Site

  private get mode(): Mode {
    return this.flags.snapshot ? 'snapshot' : this.flags.zip ? 'zip' : 'backup'
  }

  protected async store() {
    this.site = await resolveSite(this.flags)
    return siteStore(this.site, this.mode)
  }

  protected override policy() {
    // the zip locations always keep exactly one backup: a retention flag there would be silently ignored
    const given = (
      ['keep', 'keep-days', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-blob-days'] as const
    ).filter((name) => this.flags[name] !== undefined)
    if (this.mode === 'zip' && given.length > 0) {
      throw new BkError(
        `--zip keeps the one newest zip backup, so --${given[0]} does not apply there; drop it (or prune without --zip)`,
        {code: 'EUSAGE', exit: 2},
      )
    }
    return retentionOf(this.site!, this.mode, super.policy(), this.flags['keep-blob-days'])
  }
}
