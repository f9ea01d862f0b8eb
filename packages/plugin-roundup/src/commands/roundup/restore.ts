import {BkCommand} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {restoreTracker} from '../../restore.js'

export default class Restore extends BkCommand<typeof Restore> {
  static override summary = 'Restore a bk roundup backup into a tracker home (the old home kept as <home>.old).'
  static override description =
    'Checks the archive against its manifest, stages the home beside the target, puts the database back (sqlite ' +
    'file; PostgreSQL/MySQL dump loaded into a fresh, empty database — an existing non-empty one is refused), ' +
    'refuses a database whose stored schema does not match the restored schema.py, then swaps the home in. ' +
    '--backend-url points the restored config.ini at another database (no password in the URL).'
  static override examples = [
    '<%= config.bin %> roundup restore /backup/tracker-2026-11-21_020000.tar.gz /srv/tracker',
    '<%= config.bin %> roundup restore backup.tar.gz /srv/tracker --backend-url postgresql://roundup@db:5432/tracker_new',
  ]
  static override args = {
    backup: Args.string({description: 'a bk roundup backup archive', required: true}),
    home: Args.string({description: 'tracker home to restore into (replaced if it exists)', required: true}),
  }
  static override flags = {
    'backend-url': Flags.string({description: 'database for the restored tracker: postgresql://…, mysql://…, sqlite:'}),
  }

  async run() {
    const {args, flags} = this
    const {existsSync} = await import('node:fs')
    if (existsSync(args.home))
      await this.confirmOrAbort(`Replace the tracker home ${args.home}?`, 'restore over an existing tracker home')
    const result = await restoreTracker(args.backup, args.home, {backendUrl: flags['backend-url']})
    for (const n of result.notes) this.note(n)
    return this.report(result, (r) => [
      `Restored ${r.backup} into ${r.home} (${r.backend} database ${r.database}).`,
      ...(r.previous ? [`The previous home is kept as ${r.previous}.`] : []),
    ])
  }
}
