import {Args, Flags} from '@bkcli/core/oclif'
import {SiteMigrate} from '../../clone-migrate.js'
import {DeployCommand, deployFlags, deployOptions, openSiteFromFlags} from '../../deploy-options.js'

export default class Migrate extends DeployCommand<typeof Migrate> {
  static override summary = 'Move a site to another platform (optionally under a new uri), then retire the old one.'
  static override description =
    `Puts the site in maintenance mode, backs it up (kept), deploys the backup into <platform>/sites/<uri> with a new database and user, rewrites the platform paths and, with --new-uri, sites/<old-uri> paths in the files' settings and the database (serialized values included). Only after that succeeded are the old database, its user and the old site folder removed. On failure the old site is taken out of maintenance mode and left as it was; a killed run is undone (or finished) by the next bk aegir command on the site.`
  static override examples = [
    '<%= config.bin %> aegir migrate /var/aegir/platforms/drupal-7.98/sites/example.com /var/aegir/platforms/drupal-7.99 --yes',
  ]
  static override args = {
    site: Args.string({description: 'The site folder to migrate.', required: true}),
    platform: Args.string({description: 'The platform to move it to (the folder holding sites/).', required: true}),
  }
  static override flags = {
    'new-uri': Flags.string({description: 'Give the site a new uri on the way.'}),
    ...deployFlags,
  }

  async run() {
    const {args, flags} = this
    const site = await openSiteFromFlags(args.site, flags, this.io())
    const migrate = new SiteMigrate(site, args.platform, {
      newUri: flags['new-uri'],
      ...(await deployOptions(flags, this.io())),
    })
    return this.execute(
      {
        kind: 'restore',
        plan: () => migrate.plan(),
        confirm: () => ({
          question: `Migrate ${site.uri} to ${args.platform} and remove ${site.dir} and its database ${site.database.database} afterwards?`,
          action: `migrate ${site.uri}`,
        }),
        locks: migrate.locks,
        recover: () => migrate.recover(),
        hooks: {env: {BK_TARGET: migrate.target, BK_SOURCE: site.dir}},
        act: async (_plan, context) => {
          const result = await migrate.run()
          for (const w of result.warnings) context.note(w)
          return result
        },
      },
      (r) => [
        `Migrated ${site.uri} to ${r.site}: database ${r.database} (user ${r.user}).`,
        `Old database ${site.database.database} ${r.oldDatabaseDropped ? 'dropped' : 'kept (see warnings)'}, old folder ${r.oldSiteRemoved ? 'removed' : 'kept'}; backup: ${r.backup}`,
      ],
    )
  }
}
