import {BkCommand, retentionFlags, retentionFromFlags} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {shown} from '../../display.js'
import {pruneStack} from '../../prune.js'

export default class Prune extends BkCommand<typeof Prune> {
  static override summary =
    'Remove old dated backups (backups/backup/) by a retention policy; rolling ones already keep seven.'
  static override examples = [
    '<%= config.bin %> iotstack prune ~/IOTstack --keep 14 --dry-run',
    '<%= config.bin %> iotstack prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --yes',
  ]
  static override args = {
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    location: Flags.string({description: 'Backups folder (default <stack>/backups).', aliases: ['backups-dir']}),
    ...retentionFlags,
  }

  async run() {
    const {args, flags} = this
    const result = await pruneStack(args['stack-dir'], retentionFromFlags(flags, 'local'), {
      location: flags.location,
      dryRun: flags['dry-run'],
      confirm: (plan) =>
        this.confirmOrAbort(`Remove ${plan.remove.length} dated backup(s)?`, `remove ${plan.remove.length} backups`),
    })
    return this.report(result, (r) => [
      ...r.keep.map((k) => `Keep ${k.name} (${k.reason})`),
      ...r.removed.map((p) => `${r.dryRun ? 'Would remove' : 'Removed'} ${shown(p)}`),
      ...(r.removed.length === 0 ? ['Nothing to remove.'] : []),
    ])
  }
}
