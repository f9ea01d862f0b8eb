import {Args} from '@bkcli/core/oclif'
import {DeployCommand, deployFlags, deployOptions, openSiteFromFlags} from '../../deploy-options.js'
import {SiteRestore} from '../../restore.js'

export default class Restore extends DeployCommand<typeof Restore> {
  static override summary = 'Restore a site from one of its backups, the way Aegir does it, but safely.'
  static override description =
    `Checks the archive first; puts the site in maintenance mode (the variable or state its Drupal version honours); takes a pre-restore backup ("Generated before being restored to a previous version"), which is kept also when the restore fails; unpacks the backup beside the site; creates a new database and user with a fresh password through --db-admin-url; imports the dump; rewrites the credentials in settings.php and drushrc.php; swaps the folders; then drops the old database and user. On any failure the live site and its database stay as they were and the new database is dropped; a killed run is undone (or finished, once swapped) by the next bk aegir command on the site. Without [backup], the newest backup of the site is used. --dry-run lists every database, user, folder and file it would create, replace or drop.`
  static override examples = [
    '<%= config.bin %> aegir restore /var/aegir/platforms/drupal-7/sites/example.com example.com-20261121.222734.tar.gz --yes',
  ]
  static override args = {
    site: Args.string({description: 'The site folder (<platform>/sites/<uri>).', required: true}),
    backup: Args.string({description: 'The backup: a file, or a name in the backup location (default: the newest).'}),
  }
  static override flags = {
    ...deployFlags,
  }

  async run() {
    const {args, flags} = this
    const site = await openSiteFromFlags(args.site, flags, this.io())
    const restore = await SiteRestore.open(site, args.backup, await deployOptions(flags, this.io()))
    return this.execute(
      {
        kind: 'restore',
        plan: () => restore.plan(),
        confirm: () => ({
          question: `Replace ${site.uri} (${site.dir}) and its database ${site.database.database} with ${restore.backup}?`,
          action: `restore ${site.uri}`,
        }),
        locks: [site.dir],
        recover: () => restore.recover(),
        hooks: {env: {BK_TARGET: site.dir, BK_BACKUP: restore.backup}},
        act: async (_plan, context) => {
          const result = await restore.run()
          for (const w of result.warnings) context.note(w)
          return result
        },
      },
      (r) => [
        `Restored ${r.uri} from ${r.backup}: database ${r.database.new} (user ${r.database.user}), ${Object.values(r.tables).reduce((a, b) => a + b, 0)} rows in ${Object.keys(r.tables).length} tables.`,
        `Old database ${r.database.old} ${r.oldDatabaseDropped ? 'dropped' : 'NOT dropped (see warnings)'}; pre-restore backup kept: ${r.preRestoreBackup}`,
      ],
    )
  }
}
