import {BkCommand} from '@bkcli/core'
import {Args} from '@oclif/core'
import {adminTarget} from '../../admin.js'
import {cloneSite} from '../../clone-migrate.js'
import {overridesFromUrl} from '../../db-overrides.js'
import {adminFlags, dumpFlags, locationFlag, siteDbFlags, webGroupFlag} from '../../flags.js'
import {resolveGroup} from '../../layout.js'
import {openSite} from '../../site.js'

export default class Clone extends BkCommand<typeof Clone> {
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
    location: locationFlag,
    'web-group': webGroupFlag,
    ...adminFlags,
    ...dumpFlags,
    ...siteDbFlags,
  }

  async run() {
    const {args, flags} = this
    const database = await overridesFromUrl(
      flags['db-url'],
      flags['password-file'],
      (m) => this.note(m),
      this.configSecret('db-password'),
    )
    const site = await openSite(args.site, {database})
    const result = await cloneSite(site, args['new-uri'], {
      location: flags.location,
      admin: await adminTarget({
        url: flags['db-admin-url'],
        passwordFile: flags['db-admin-password-file'],
        configPassword: this.configSecret('db-admin-password'),
      }),
      grantHost: flags['db-grant-host'],
      webGroup: flags['web-group'] === undefined ? undefined : await resolveGroup(flags['web-group']),
      force: flags.force,
      stripDefiner: flags['strip-definer'],
      onStep: (s) => this.info(`- ${s}`),
    })
    for (const w of result.warnings) this.note(w)
    return this.report(result, (r) => [
      `Cloned ${site.uri} to ${r.uri} at ${r.site}: database ${r.database} (user ${r.user}), ${r.rewrittenValues} database values rewritten to sites/${r.uri}.`,
      `Backup used: ${r.backup}`,
    ])
  }
}
