import {BkCommand} from '@bkcli/core'
import {Args} from '@oclif/core'
import {adminTarget} from '../../admin.js'
import {overridesFromUrl} from '../../db-overrides.js'
import {adminFlags, dumpFlags, locationFlag, siteDbFlags, webGroupFlag} from '../../flags.js'
import {resolveGroup} from '../../layout.js'
import {restoreSite} from '../../restore.js'
import {openSite} from '../../site.js'

export default class Restore extends BkCommand<typeof Restore> {
  static override summary = 'Restore a site from one of its backups, the way Aegir does it, but safely.'
  static override description =
    `Checks the archive first; puts the site in maintenance mode (the variable or state its Drupal version honours); takes a pre-restore backup ("Generated before being restored to a previous version"), which is kept also when the restore fails; unpacks the backup beside the site; creates a new database and user with a fresh password through --db-admin-url; imports the dump; rewrites the credentials in settings.php and drushrc.php; swaps the folders; then drops the old database and user. On any failure the live site and its database stay as they were and the new database is dropped. Without [backup], the newest backup of the site is used.`
  static override examples = [
    '<%= config.bin %> aegir restore /var/aegir/platforms/drupal-7/sites/example.com example.com-20261121.222734.tar.gz --yes',
  ]
  static override args = {
    site: Args.string({description: 'The site folder (<platform>/sites/<uri>).', required: true}),
    backup: Args.string({description: 'The backup: a file, or a name in the backup location (default: the newest).'}),
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
    await this.confirmOrAbort(
      `Replace ${site.uri} (${site.dir}) and its database ${site.database.database} with ${args.backup ?? 'its newest backup'}?`,
      `restore ${site.uri}`,
    )
    const result = await restoreSite(site, args.backup, {
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
      `Restored ${r.uri} from ${r.backup}: database ${r.database.new} (user ${r.database.user}), ${Object.values(r.tables).reduce((a, b) => a + b, 0)} rows in ${Object.keys(r.tables).length} tables.`,
      `Old database ${r.database.old} ${r.oldDatabaseDropped ? 'dropped' : 'NOT dropped (see warnings)'}; pre-restore backup kept: ${r.preRestoreBackup}`,
    ])
  }
}
