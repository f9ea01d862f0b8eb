import {retentionFlags} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag, locationFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {offsiteFlags} from '@bkcli/core/offsite'
import {hookFlags} from '@bkcli/core/process'
import {formatBytes} from '@bkcli/core/ui'
import {TracBackup} from '../../backup.js'
import {TracEnvironment} from '../../environment.js'
import {tracStore} from '../../store.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up a Trac environment into an archive in a backup location, with retention.'
  static override description =
    `A hotcopy (files + consistent database snapshot + manifest) packed as <env>-YYYY-MM-DD_HHMMSS.tar.gz (UTC, mode 0600) in --location (default <env>.backups beside the env). The archive appears complete or not at all. With retention flags, older backups are pruned afterwards.`
  static override examples = [
    '<%= config.bin %> trac backup /var/trac/project --location /backup/trac --keep 7 --keep-monthly 6',
  ]
  static override args = {env: Args.string({description: 'The Trac environment.', required: true})}
  static override flags = {
    ...dryRunFlag,
    ...hookFlags,
    location: locationFlag('a directory (default <env>.backups beside the env).'),
    description: Flags.string({description: 'A note stored in the manifest.'}),
    'include-external': Flags.boolean({description: 'Also copy what the env uses outside itself.'}),
    ...retentionFlags,
    ...offsiteFlags,
  }

  async run() {
    const {args, flags} = this
    const env = await TracEnvironment.open(args.env)
    const backup = await TracBackup.open(env, {
      location: flags.location,
      description: flags.description,
      includeExternal: flags['include-external'],
    })
    return this.execute(
      {
        kind: 'backup',
        plan: () => backup.plan(),
        locks: [env.path, backup.location],
        recover: () => backup.recover(),
        hooks: {env: {BK_TARGET: env.path, BK_LOCATION: backup.location}},
        act: () => backup.run(),
        offsite: this.offsite(
          async () => tracStore(backup.location),
          env.database.password ? 'the database password of trac.ini' : undefined,
        ),
        retention: this.retention(
          async () => tracStore(backup.location),
          (plan) => backup.upcoming(plan),
        ),
      },
      (r) => [
        `Backed up ${env.path} (${r.engine}, database_version ${r.databaseVersion ?? '?'}) to ${r.archive} (${formatBytes(r.bytes)}).`,
      ],
    )
  }
}
