import {retentionFlags} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args, Flags} from '@bkcli/core/oclif'
import {offsiteFlags} from '@bkcli/core/offsite'
import {hookFlags} from '@bkcli/core/process'
import {formatBytes} from '@bkcli/core/ui'
import {type BackupOptions, backupSite} from '../../backup.js'
import {backupAllSites, planAll} from '../../backup-all.js'
import {overridesFromUrl} from '../../db-overrides.js'
import {dumpFlags, locationFlag, locationOf, siteDbFlags} from '../../flags.js'
import {backupSteps} from '../../plans.js'
import {recoverSite} from '../../recover.js'
import {openSite} from '../../site.js'
import {siteStore} from '../../store.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up a Drupal site as provision-backup does: site folder + database.sql in one tarball.'
  static override description =
    `Writes <uri>-YYYYmmdd.HHMMSS.tar.gz (local time, mode 0600, never overwritten: _1, _2…) in the backup location, with the database dumped as database.sql (0600) inside, and a sidecar <tarball>.bk.json holding the description and checksum; the tarball appears under its name only when complete, after its sidecar. The credentials come from the site's settings.php or drushrc.php; the dump client gets them on a file descriptor, never in argv. With --all, the argument is a platform or the Aegir root and every site on it is backed up; a failing site does not stop the others, and the run exits non-zero with a summary.`
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
    ...dryRunFlag,
    description: Flags.string({description: 'Why the backup is made (Aegir shows it as the reason).'}),
    location: locationFlag,
    all: Flags.boolean({description: 'Back up every site of the platform(s) under the argument.'}),
    ...dumpFlags,
    ...siteDbFlags,
    ...hookFlags,
    ...retentionFlags,
    ...offsiteFlags,
  }

  async run() {
    const {args, flags} = this
    const database = await overridesFromUrl(
      flags['db-url'],
      flags['password-file'],
      (m) => this.note(m),
      this.configSecret('db-password'),
    )
    const location = locationOf(flags)
    const options: BackupOptions = {
      location,
      description: flags.description,
      force: flags.force,
      stripDefiner: flags['strip-definer'],
      locked: true,
    }
    const configPassword = this.configSecret('db-admin-password')
    if (flags.all) {
      const all = await planAll(args.site, {database})
      const result = await this.execute(
        {
          kind: 'backup',
          plan: async () => ({
            summary: `back up every site under ${args.site} to ${location}`,
            steps: (await Promise.all(all.sites.map((s) => backupSteps(s, location, 'backup')))).flat(),
            warnings: all.failed.map((f) => `${f.site}: ${f.error}`),
          }),
          locks: all.sites.map((s) => s.dir),
          recover: async () =>
            (await Promise.all(all.sites.map((s) => recoverSite(s, {location, configPassword})))).flat(),
          hooks: {env: {BK_TARGET: args.site}},
          offsite: this.offsite(
            async () => ({
              location,
              clock: 'local' as const,
              list: async () => (await Promise.all(all.sites.map((s) => siteStore(location, s.uri).list()))).flat(),
            }),
            'the database credentials of settings.php and a database dump',
          ),
          act: async (_plan, context) => {
            const r = await backupAllSites(all, {
              ...options,
              onSite: (s, o) => !o.ok && context.note(`${s}: ${o.error}`),
            })
            if (r.succeeded === 0)
              throw new BkError(`none of the ${r.sites.length} sites under ${args.site} was backed up`)
            return r
          },
        },
        (r) => [
          ...r.sites.map((s) =>
            s.ok
              ? `ok      ${s.site} -> ${s.result?.file} (${formatBytes(s.result?.bytes ?? 0)})`
              : `FAILED  ${s.site}: ${s.error}`,
          ),
          `${r.succeeded} of ${r.sites.length} sites backed up${r.failed ? `, ${r.failed} failed` : ''}.`,
        ],
      )
      if ('failed' in result && result.failed > 0) {
        const failed = result.sites.filter((s) => !s.ok).map((s) => s.site)
        process.stderr.write(`bk: ${failed.length} of ${result.sites.length} sites failed: ${failed.join(', ')}\n`)
        this.exit(1)
      }
      return result
    }
    const site = await openSite(args.site, {database})
    const store = async () => siteStore(location, site.uri)
    return this.execute(
      {
        kind: 'backup',
        plan: async () => ({
          summary: `back up ${site.uri} (${site.dir}) to ${location}`,
          steps: await backupSteps(site, location, 'backup'),
        }),
        locks: [site.dir],
        recover: () => recoverSite(site, {location, configPassword}),
        hooks: {env: {BK_TARGET: site.dir}},
        offsite: this.offsite(store, 'the database credentials of settings.php and a database dump'),
        retention: this.retention(store, (plan) => {
          const file = plan.steps.find((s) => s.op === 'create' && s.target.endsWith('.tar.gz'))?.target
          return file ? {name: file, path: file, kind: 'full', date: new Date(), bytes: 0, group: site.uri} : undefined
        }),
        act: async () => {
          const progress = this.progress(`backing up ${site.uri}`)
          return backupSite(site, {...options, onProgress: (bytes) => progress.update(bytes)}).finally(() =>
            progress.done(),
          )
        },
      },
      (r) =>
        `Backed up ${r.uri} (${r.database.engine} database ${r.database.name}) to ${r.file} (${formatBytes(r.bytes)}) - ${r.description}`,
    )
  }
}
