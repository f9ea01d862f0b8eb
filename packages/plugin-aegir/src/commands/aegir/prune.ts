import {basename, resolve} from 'node:path'
import {PruneCommand} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import type {Artifact, ArtifactStore, PruneDecision} from '@bkcli/core/workflow'
import {locationFlag, locationOf} from '../../flags.js'
import {parseKeepPer, planAegirPrune} from '../../prune.js'
import {siteStore} from '../../store.js'

export default class Prune extends PruneCommand<typeof Prune> {
  static override aliases = ['aegir:purge']
  static override summary = "Remove a site's old backups by retention rules (alias: purge)."
  static override description =
    `Core's retention flags (--keep, --keep-days, --keep-daily/--keep-weekly/--keep-monthly) and hosting_backup_gc-style rules: --keep-per 7d:1d means "for backups older than 7 days, keep one per day" (units h, d, w, y; repeatable). The newest backup is always kept; sidecars go with their tarballs. --dry-run shows the plan.`
  static override examples = [
    '<%= config.bin %> aegir prune /var/aegir/platforms/drupal-7/sites/example.com --keep-per 7d:1d --keep-per 28d:7d --dry-run',
    '<%= config.bin %> aegir purge example.com --keep 10 --yes',
  ]
  static override args = {site: Args.string({description: 'The site folder, or just its uri.', required: true})}
  static override flags = {
    ...PruneCommand.pruneFlags,
    location: locationFlag,
    'keep-per': Flags.string({
      description: 'For backups older than <age>, keep one per <interval>: <age>:<interval>, e.g. 7d:1d.',
      multiple: true,
      helpGroup: 'RETENTION',
    }),
  }

  protected async store() {
    return siteStore(locationOf(this.flags), basename(resolve(this.args.site)))
  }

  protected override decide(artifacts: Artifact[], store: ArtifactStore): PruneDecision {
    const rules = (this.flags['keep-per'] ?? []).map(parseKeepPer)
    const plan = planAegirPrune(artifacts, {...this.policy(), clock: store.clock}, rules)
    return {
      remove: plan.remove,
      keep: plan.keep.map((artifact) => ({artifact, reason: plan.reasons.get(artifact.name) ?? 'kept'})),
    }
  }
}
