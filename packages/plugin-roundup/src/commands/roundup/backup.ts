import {
  BkCommand,
  formatBytes,
  hookFlags,
  hooksFromFlags,
  retentionFlags,
  retentionFromFlags,
  withHooks,
} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {backupTracker} from '../../backup.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = 'Back up a Roundup tracker: database snapshot first, then db/files and the home.'
  static override description =
    'Takes the database first (sqlite online backup API, committed WAL rows and db-session/db-otk included; ' +
    'pg_dump; mysqldump --single-transaction), then the tracker home and db/files, into ' +
    '<home>-YYYY-MM-DD_HHMMSS.tar.gz (UTC, 0600, manifest with backend and schema) in --location ' +
    '(default <home>.backups beside the home). --stop-server sends SIGTERM to the roundup-server of a pidfile ' +
    'first; nothing is restarted. Retention flags prune older backups afterwards.'
  static override examples = [
    '<%= config.bin %> roundup backup /srv/tracker --location /backup/roundup --keep 7',
    '<%= config.bin %> roundup backup /srv/tracker --stop-server /run/roundup-server.pid',
  ]
  static override args = {home: Args.string({description: 'tracker home', required: true})}
  static override flags = {
    location: Flags.string({description: 'backup location (directory)'}),
    description: Flags.string({description: 'a note stored in the manifest'}),
    'stop-server': Flags.string({description: 'pidfile of roundup-server: stop it (SIGTERM) before the snapshot'}),
    ...retentionFlags,
    ...hookFlags,
  }

  async run() {
    const {args, flags} = this
    const result = await withHooks(hooksFromFlags(flags), () =>
      backupTracker(args.home, {
        location: flags.location,
        description: flags.description,
        stopServer: flags['stop-server'],
        retention: retentionFromFlags(flags, 'utc'),
        dryRun: flags['dry-run'],
      }),
    )
    for (const n of result.notes) this.note(n)
    return this.report(result, (r) => [
      ...(r.stoppedServer ? [`Stopped roundup-server (pid ${r.stoppedServer.pid}); it was not restarted.`] : []),
      `Backed up ${args.home} (${r.backend}, schema version ${r.schemaVersion ?? '?'}) to ${r.archive} (${formatBytes(r.bytes)}).`,
      ...r.pruned.map((p) => `${flags['dry-run'] ? 'Would prune' : 'Pruned'} ${p}`),
    ])
  }
}
