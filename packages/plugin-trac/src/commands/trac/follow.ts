import {SqliteFollowCommand} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args} from '@bkcli/core/oclif'
import {ATTACHMENTS, tracFollowTarget} from '../../follow.js'

export default class Follow extends SqliteFollowCommand<typeof Follow> {
  static override summary = 'Continuous backup: ship every committed transaction of a live Trac SQLite database.'
  static override description =
    `Litestream-style: keeps a read transaction open on the environment's database (in WAL mode) so no checkpoint can recycle WAL frames not yet copied, and every --interval copies the frames of whole committed transactions (salts and checksums checked) into the location as one segment, with a manifest saying when each commit was seen. A snapshot (SQLite's online backup API) starts each generation; a new generation starts when the WAL is reset by another process before all of it was shipped, or the database file is replaced. New and changed attachments are shipped as they appear. SIGTERM/SIGINT ships what is committed, then stops; after a kill the next start resumes. Restore with \`bk trac restore <location> <env> [--as-of TIME]\`.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> /var/trac/project --location /backups/project-follow',
    '<%= config.bin %> <%= command.id %> /var/trac/project --location /backups/project-follow --json',
    '<%= config.bin %> <%= command.id %> --location /backups/project-follow --status',
    '<%= config.bin %> <%= command.id %> /var/trac/project --location /backups/project-follow --print-unit > /etc/systemd/system/bk-trac-follow.service',
  ]
  static override args = {
    env: Args.string({description: 'The Trac environment to follow (optional with --status and --verify).'}),
  }
  static override flags = {...SqliteFollowCommand.followFlags}

  protected async target() {
    if (!this.args.env) throw new BkError('give the Trac environment to follow')
    return tracFollowTarget(this.args.env)
  }

  protected folderNames() {
    return [ATTACHMENTS]
  }
}
