import {BkCommand, formatBytes, hookFlags, hooksFromFlags, withHooks} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {backupSite} from '../../backup.js'
import {backupAll} from '../../backup-all.js'
import {overridesFromUrl} from '../../db-overrides.js'
import {dumpFlags, locationFlag, siteDbFlags} from '../../flags.js'
import {openSite} from '../../site.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up a Drupal site as provision-backup does: site folder + database.sql in one tarball.'
  static override description =
    `Writes <uri>-YYYYmmdd.HHMMSS.tar.gz (local time, mode 0600, never overwritten: _1, _2…) in the backup location, with the database dumped as database.sql (0600) inside, and a sidecar <tarball>.bk.json holding the description and checksum. The credentials come from the site's settings.php or drushrc.php; the dump client gets them on a file descriptor, never in argv. With --all, the argument is a platform or the Aegir root and every site on it is backed up; a failing site does not stop the others, and the run exits non-zero with a summary.`
  static override examples = [
    '<%= config.bin %> aegir backup /var/aegir/platforms/drupal-7/sites/example.com --description "before the upgrade"',
    '<%= config.bin %> aegir backup --all /var/aegir --quiet',
  ]
  static override args = {
    site: Args.string({
      description: 'The site folder (<platform>/sites/<uri>), or with --all a platform or the Aegir root.',
      required: true,
    }),
  }
  static override flags = {
    description: Flags.string({description: 'Why the backup is made (Aegir shows it as the reason).'}),
    location: locationFlag,
    all: Flags.boolean({description: 'Back up every site of the platform(s) under the argument.'}),
    ...dumpFlags,
    ...siteDbFlags,
    ...hookFlags,
  }

  async run() {
    const {args, flags} = this
    const database = await overridesFromUrl(
      flags['db-url'],
      flags['password-file'],
      (m) => this.note(m),
      this.configSecret('db-password'),
    )
    const options = {
      location: flags.location,
      description: flags.description,
      force: flags.force,
      stripDefiner: flags['strip-definer'],
    }
    if (flags.all) {
      const result = await withHooks(hooksFromFlags(flags), () =>
        backupAll(args.site, {
          ...options,
          open: {database},
          onSite: (site, o) => {
            if (!o.ok) this.note(`${site}: ${o.error}`)
          },
        }),
      )
      this.report(result, (r) => [
        ...r.sites.map((s) =>
          s.ok
            ? `ok      ${s.site} -> ${s.result?.file} (${formatBytes(s.result?.bytes ?? 0)})`
            : `FAILED  ${s.site}: ${s.error}`,
        ),
        `${r.succeeded} of ${r.sites.length} sites backed up${r.failed ? `, ${r.failed} failed` : ''}.`,
      ])
      if (result.failed > 0) {
        process.stderr.write(
          `bk: ${result.failed} of ${result.sites.length} sites failed: ${result.sites
            .filter((s) => !s.ok)
            .map((s) => s.site)
            .join(', ')}\n`,
        )
        this.exit(1)
      }
      return result
    }
    const site = await openSite(args.site, {database})
    const progress = this.progress(`backing up ${site.uri}`)
    const result = await withHooks(hooksFromFlags(flags), () =>
      backupSite(site, {...options, onProgress: (bytes) => progress.update(bytes)}),
    ).finally(() => progress.done())
    return this.report(
      result,
      (r) =>
        `Backed up ${r.uri} (${r.database.engine} database ${r.database.name}) to ${r.file} (${formatBytes(r.bytes)}) - ${r.description}`,
    )
  }
}
