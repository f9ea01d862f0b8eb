import {BkCommand, formatBytes, retentionFlags, retentionFromFlags} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {backup} from '../../backup.js'
import {TracEnvironment} from '../../environment.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up a Trac environment into an archive in a backup location, with retention.'
  static override description =
    `A hotcopy (files + consistent database snapshot + manifest) packed as <env>-YYYY-MM-DD_HHMMSS.tar.gz (UTC, mode 0600) in --location (default <env>.backups beside the env). With retention flags, older backups are pruned afterwards.`
  static override examples = [
    '<%= config.bin %> trac backup /var/trac/project --location /backup/trac --keep 7 --keep-monthly 6',
  ]
  static override args = {env: Args.string({description: 'The Trac environment.', required: true})}
  static override flags = {
    location: Flags.string({description: 'Backup location (directory).'}),
    description: Flags.string({description: 'A note stored in the manifest.'}),
    'include-external': Flags.boolean({description: 'Also copy what the env uses outside itself.'}),
    ...retentionFlags,
  }

  async run() {
    const {args, flags} = this
    const env = await TracEnvironment.open(args.env)
    const result = await backup(env, {
      location: flags.location,
      description: flags.description,
      includeExternal: flags['include-external'],
      retention: retentionFromFlags(flags, 'utc'),
      dryRun: flags['dry-run'],
    })
    return this.report(result, (r) => [
      r.dryRun
        ? `Would back up ${env.path} (${r.engine}) to ${r.archive}; nothing was written (--dry-run).`
        : `Backed up ${env.path} (${r.engine}, database_version ${r.databaseVersion ?? '?'}) to ${r.archive} (${formatBytes(r.bytes)}).`,
      ...r.pruned.map((p) => `${flags['dry-run'] ? 'Would prune' : 'Pruned'} ${p}`),
    ])
  }
}
