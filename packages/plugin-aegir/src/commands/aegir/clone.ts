import {Args} from '@bkcli/core/oclif'
import {SiteClone} from '../../clone-migrate.js'
import {DeployCommand, deployFlags, deployOptions, openSiteFromFlags} from '../../deploy-options.js'

export default class Clone extends DeployCommand<typeof Clone> {
  static override summary = 'Clone a site under a new uri beside it, with its own database; the source keeps running.'
  static override description =
    `Backs the site up (kept in the backup location), deploys that backup as <platform>/sites/<new-uri> with a new database and user (fresh password, through --db-admin-url), and rewrites sites/<old-uri> paths to sites/<new-uri> in settings.php, drushrc.php and in the database, PHP-serialized values included (their length prefixes follow). The web server's vhost for the new uri is not made here.`
  static override examples = [
    '<%= config.bin %> aegir clone /var/aegir/platforms/drupal-7/sites/example.com staging.example.com',
  ]
  static override args = {
    site: Args.string({description: 'The site folder to clone.', required: true}),
    'new-uri': Args.string({description: 'The uri of the clone.', required: true}),
  }
  static override flags = {
    ...deployFlags,
  }

  async run() {
    const {args, flags} = this
    const site = await openSiteFromFlags(args.site, flags, this.io())
    const clone = new SiteClone(site, args['new-uri'], await deployOptions(flags, this.io()))
    return this.execute(
      {
        kind: 'restore',
        plan: () => clone.plan(),
        locks: clone.locks,
        recover: () => clone.recover(),
        hooks: {env: {BK_TARGET: clone.target, BK_SOURCE: site.dir}},
        act: async (_plan, context) => {
          const result = await clone.run()
          for (const w of result.warnings) context.note(w)
          return result
        },
      },
      (r) => [
        `Cloned ${site.uri} to ${r.uri} at ${r.site}: database ${r.database} (user ${r.user}), ${r.rewrittenValues} database values rewritten to sites/${r.uri}.`,
        `Backup used: ${r.backup}`,
      ],
    )
  }
}
