import {SqliteFollowCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import {FILES, roundupFollowTarget} from '../../follow.js'

export default class Follow extends SqliteFollowCommand<typeof Follow> {
  static override summary = 'Continuous backup: ship every committed transaction of a live Roundup tracker on SQLite.'
  static override description =
    `Litestream-style: keeps a read transaction open on the tracker's database (db/db, in WAL mode) so no checkpoint can recycle WAL frames not yet copied, and every --interval copies the frames of whole committed transactions (salts and checksums checked) into the location as one segment, with a manifest saying when each commit was seen. A snapshot (SQLite's online backup API) starts each generation; a new generation starts when the WAL is reset by another process before all of it was shipped, or the database file is replaced. New and changed files (db/files) are shipped as they appear. SIGTERM/SIGINT ships what is committed, then stops; after a kill the next start resumes. Restore with \`bk roundup restore <location> <tracker-home> [--as-of TIME]\`.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> /srv/roundup/support --location /backups/support-follow',
    '<%= config.bin %> <%= command.id %> /srv/roundup/support --location /backups/support-follow --json',
    '<%= config.bin %> <%= command.id %> --location /backups/support-follow --status',
    '<%= config.bin %> <%= command.id %> /srv/roundup/support --location /backups/support-follow --print-unit > /etc/systemd/system/bk-roundup-follow.service',
  ]
  static override args = {
    home: Args.string({description: 'The Roundup tracker home to follow (optional with --status and --verify).'}),
  }
  static override flags = {...SqliteFollowCommand.followFlags}

  protected async target() {
    if (!this.args.home) throw new BkError('give the Roundup tracker home to follow')
    return roundupFollowTarget(this.args.home)
  }

  protected folderNames() {
    return [FILES]
  }
}
