import {dryRunFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {hookFlags} from '@bkcli/core/process'
import {BackupDeploy} from '../../deploy-backup.js'
import {DeployCommand, deployOptions} from '../../deploy-options.js'
import {adminFlags, locationFlag} from '../../flags.js'
import {resolveOwner} from '../../layout.js'

export default class Deploy extends DeployCommand<typeof Deploy> {
  static override summary = 'Put a site from a backup onto a platform where it does not exist yet (provision-deploy).'
  static override description =
    `Recovery onto a fresh server: checks the backup as restore does, unpacks it beside <platform>/sites/<uri>, creates a new database and user (fresh password) through --db-admin-url, loads database.sql, rewrites settings.php and drushrc.php for the new credentials, the platform and the uri, gives the files the owner and web group of the platform's other sites (or --owner/--web-group) and provision's modes, checks the new database has tables, then moves the folder into place at once. A site that already exists on the platform is refused (use bk aegir restore). A failure drops the new database and user and leaves no folder; a killed run is undone (or, once committed, finished) by the next run. The vhost is not made here: run provision-verify on the site afterwards.`
  static override examples = [
    '<%= config.bin %> aegir deploy /srv/restore/example.com-20261121.222734.tar.gz /var/aegir/platforms/drupal-7 --db-admin-url mysql://root@db1:3306/ --yes',
  ]
  static override args = {
    backup: Args.string({description: 'The backup tarball: a file, or a name in the backup location.', required: true}),
    platform: Args.string({
      description: 'The platform to put the site on (the folder holding sites/).',
      required: true,
    }),
  }
  static override flags = {
    ...dryRunFlag,
    ...hookFlags,
    location: locationFlag,
    uri: Flags.string({description: "The site's uri on this platform (default: the uri the backup was made of)."}),
    'old-uri': Flags.string({
      description: "The uri the backup was made of, when its file name does not say (provision's old_uri).",
      aliases: ['old_uri'],
    }),
    owner: Flags.string({
      description:
        "Owner of the site's files as user[:group] (default: the owner of the platform's other sites, else of its sites/ folder).",
    }),
    'web-group': Flags.string({
      description:
        "Group of the web server for the site's files/, private/ and settings.php (provision's web_group). Default: the group of the files folder of the platform's other sites; none there: the archive's.",
    }),
    ...adminFlags,
  }

  async run() {
    const {args, flags} = this
    const options = await deployOptions(flags, this.io())
    const deploy = await BackupDeploy.open(args.backup, args.platform, {
      ...options,
      uri: flags.uri,
      oldUri: flags['old-uri'],
      owner: flags.owner === undefined ? undefined : await resolveOwner(flags.owner),
    })
    return this.execute(
      {
        kind: 'restore',
        plan: () => deploy.plan(),
        locks: deploy.locks,
        recover: () => deploy.recover(),
        hooks: {env: {BK_TARGET: deploy.target, BK_BACKUP: deploy.backup}},
        act: async (_plan, context) => {
          const result = await deploy.run()
          for (const w of result.warnings) context.note(w)
          return result
        },
      },
      (r) => [
        r.finishedByRecovery
          ? `${r.uri} at ${r.site} was put in place by an interrupted deploy, finished now: database ${r.database} (user ${r.user}).`
          : `Deployed ${r.backup} as ${r.uri} at ${r.site}: database ${r.database} (user ${r.user}), ${Object.values(r.tables).reduce((a, b) => a + b, 0)} rows in ${Object.keys(r.tables).length} tables.`,
        'Next: provision-verify the site (vhost, aliases) before it is served.',
      ],
    )
  }
}
