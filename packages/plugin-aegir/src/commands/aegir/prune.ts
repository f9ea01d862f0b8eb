import {basename, resolve} from 'node:path'
import {BkCommand, retentionFlags, retentionFromFlags} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {locationFlag} from '../../flags.js'
import {parseKeepPer, pruneSiteBackups} from '../../prune.js'

export default class Prune extends BkCommand<typeof Prune> {
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
    location: locationFlag,
    'keep-per': Flags.string({
      description: 'For backups older than <age>, keep one per <interval>: <age>:<interval>, e.g. 7d:1d.',
      multiple: true,
      helpGroup: 'RETENTION',
    }),
    ...retentionFlags,
  }

  async run() {
    const {args, flags} = this
    const uri = basename(resolve(args.site))
    const rules = (flags['keep-per'] ?? []).map(parseKeepPer)
    const policy = retentionFromFlags(flags, 'local')
    const dryRun = flags['dry-run']
    if (!dryRun) {
      const plan = await pruneSiteBackups(flags.location, uri, policy, rules, {dryRun: true})
      if (plan.removed.length > 0) {
        await this.confirmOrAbort(
          `Remove ${plan.removed.length} backups of ${uri} from ${flags.location}?`,
          `prune backups of ${uri}`,
        )
      }
    }
    const result = await pruneSiteBackups(flags.location, uri, policy, rules, {dryRun})
    return this.report(result, (r) => [
      ...r.removed.map((e) => `${r.dryRun ? 'would remove' : 'removed'}  ${e.name}  (${e.reason})`),
      ...r.kept.map((e) => `kept          ${e.name}  (${e.reason})`),
      `${r.removed.length} ${r.dryRun ? 'would be removed' : 'removed'}, ${r.kept.length} kept.`,
    ])
  }
}
