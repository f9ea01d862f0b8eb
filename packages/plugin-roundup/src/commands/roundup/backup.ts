import {basename} from 'node:path'
import {retentionFlags} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag, locationFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {offsiteFlags} from '@bkcli/core/offsite'
import {frontendFlags, frontendLines, frontendsFromFlags, hookFlags} from '@bkcli/core/process'
import {formatBytes} from '@bkcli/core/ui'
import {TrackerBackup} from '../../backup.js'
import {roundupStore} from '../../store.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up a Roundup tracker: database snapshot first, then db/files and the home.'
  static override description =
    'Takes the database first (sqlite online backup API, committed WAL rows and db-session/db-otk included; ' +
    'pg_dump; mysqldump --single-transaction), then the tracker home and db/files, into ' +
    '<home>-YYYY-MM-DD_HHMMSS.tar.gz (UTC, 0600, manifest with backend and schema) in --location ' +
    '(default <home>.backups beside the home). Frontends given with --stop-server (a roundup-server pidfile: ' +
    'SIGTERM, then its command line again), --stop-unit (systemctl) or --stop-command/--start-command are stopped ' +
    'before the snapshot and started again afterwards, also when the backup fails. Retention flags prune older ' +
    'backups afterwards.'
  static override examples = [
    '<%= config.bin %> roundup backup /srv/tracker --location /backup/roundup --keep 7',
    '<%= config.bin %> roundup backup /srv/tracker --stop-server /run/roundup-server.pid',
    '<%= config.bin %> roundup backup /srv/tracker --stop-unit roundup-web.service --stop-unit roundup-mail.service',
  ]
  static override args = {home: Args.string({description: 'tracker home', required: true})}
  static override flags = {
    ...dryRunFlag,
    location: locationFlag('a directory (default <home>.backups beside the home)'),
    description: Flags.string({description: 'a note stored in the manifest'}),
    ...frontendFlags('roundup-server'),
    ...retentionFlags,
    ...offsiteFlags,
    ...hookFlags,
  }

  async run() {
    const {args, flags} = this
    const backup = await TrackerBackup.open(args.home, {
      location: flags.location,
      description: flags.description,
      frontends: frontendsFromFlags(flags, {name: 'roundup-server', match: /roundup/i}),
    })
    const store = () => Promise.resolve(roundupStore(backup.location))
    return this.execute(
      {
        kind: 'backup',
        plan: () => backup.plan(),
        locks: [backup.tracker.home, backup.location],
        recover: () => backup.recover(),
        hooks: {env: {BK_TARGET: backup.tracker.home, BK_LOCATION: backup.location}},
        offsite: this.offsite(
          store,
          backup.tracker.rdbms.passwordSource === 'inline' ? 'the database password of config.ini' : undefined,
        ),
        retention: this.retention(store, (plan) => {
          const path = plan.steps.find((s) => s.op === 'create')?.target
          if (!path) return undefined
          return {name: basename(path), path, kind: 'full', date: new Date(), bytes: 0, group: backup.name}
        }),
        act: async (_plan, context) => {
          const {pruned: _none, ...r} = await backup.run()
          for (const n of r.notes) context.note(n)
          for (const w of frontendLines(r.frontends).warnings) context.note(w)
          return {artifacts: [{path: r.archive, bytes: r.bytes, kind: 'full'}], ...r}
        },
      },
      (r) => [
        ...frontendLines(r.frontends).info,
        `Backed up ${args.home} (${r.backend}, schema version ${r.schemaVersion ?? '?'}) to ${r.archive} (${formatBytes(r.bytes)}).`,
      ],
    )
  }
}
