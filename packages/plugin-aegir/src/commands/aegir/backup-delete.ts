import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import {pruneOutcome, pruneSteps, removeArtifacts} from '@bkcli/core/workflow'
import {chooseBackups} from '../../backup-delete.js'
import {locationFlag, locationOf} from '../../flags.js'
import {sweepLocation} from '../../recover.js'

export default class BackupDelete extends BkCommand<typeof BackupDelete> {
  static override aliases = ['aegir:delete-backup']
  static override strict = false
  static override summary =
    "Delete one backup (and its sidecar) from the backup location, as Aegir's backup-delete task."
  static override description =
    `The backup is a name in the backup location or a path into it; several may be given, also as provision-backup-delete's comma list. A path outside the location, or a file that is not a site backup, is refused and nothing is removed. --dry-run shows what would go; without --yes it asks. The site's newest backup may be named too, as in Aegir (bk aegir prune, by rules, always keeps it). For rules (keep N, keep one per day …) use bk aegir prune.`
  static override examples = [
    '<%= config.bin %> aegir backup-delete example.com-20261121.222734.tar.gz --yes',
    '<%= config.bin %> aegir delete-backup /var/aegir/backups/example.com-20261121.222734.tar.gz --dry-run',
  ]
  static override args = {
    backup: Args.string({
      description: 'The backup to delete (a name in the location, or a path into it).',
      required: true,
    }),
  }
  static override flags = {...dryRunFlag, location: locationFlag}

  async run() {
    const location = locationOf(this.flags)
    // strict = false: every positional argument is a backup (oclif's parsed argv holds them all)
    const {argv} = (await this.parse(BackupDelete)) as {argv: unknown[]}
    const decision = await chooseBackups(location, argv.map(String))
    const uris = [...new Set(decision.remove.map((a) => a.group ?? ''))]
    return this.execute(
      {
        kind: 'prune',
        plan: async () => ({
          summary: `delete ${decision.remove.length} backup(s) from ${location}`,
          steps: pruneSteps(decision),
        }),
        confirm: () => ({
          question: `Delete ${decision.remove.map((a) => a.name).join(', ')} from ${location}?`,
          action: `delete ${decision.remove.length} backup(s)`,
        }),
        locks: [location],
        recover: async () => (await Promise.all(uris.map((uri) => sweepLocation(location, uri)))).flat(),
        act: async () => {
          await removeArtifacts(decision.remove)
          return pruneOutcome(location, decision)
        },
      },
      (r) => [...r.removed.map((a) => `Removed ${a.path}`), `${r.removed.length} deleted from ${r.location}.`],
    )
  }
}
