import {hasRetention, type RetentionPolicy} from '@bkcli/core/catalog'
import {locationFlag, PruneCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import type {ArtifactStore} from '@bkcli/core/workflow'
import {stackStore} from '../../list.js'

export default class Prune extends PruneCommand<typeof Prune> {
  static override summary =
    'Remove old dated backups (backups/backup/) by a retention policy; rolling ones already keep seven.'
  static override description =
    "Rolling archives (one per weekday) and restore's safety copies (backups/pre-restore/) are never pruned. Sidecars go with their archives."
  static override examples = [
    '<%= config.bin %> iotstack prune ~/IOTstack --keep 14 --dry-run',
    '<%= config.bin %> iotstack prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --yes',
  ]
  static override args = {
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    ...PruneCommand.pruneFlags,
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
  }

  protected override policy(): RetentionPolicy {
    const policy = super.policy()
    if (!hasRetention(policy))
      throw new BkError('say what to keep: --keep <n>, --keep-days <n>, --keep-daily/--keep-weekly/--keep-monthly <n>')
    return policy
  }

  protected async store(): Promise<ArtifactStore> {
    return stackStore(this.args['stack-dir'], this.flags.location)
  }
}
