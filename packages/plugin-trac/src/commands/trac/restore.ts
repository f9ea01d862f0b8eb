import {BkCommand, warnIfPasswordInArgv} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {resolveTracDbUrl} from '../../db-url.js'
import {restore} from '../../restore.js'

export default class Restore extends BkCommand<typeof Restore> {
  static override summary = 'Restore a Trac hotcopy or bk backup into an environment, database included.'
  static override description =
    `Takes a hotcopy (trac-admin's or bk's) or a bk trac backup archive. The files are staged beside <env> and swapped in only when complete (the existing env is kept until then). A PostgreSQL or MySQL dump is loaded into a new or empty database: the one in trac.ini, or --db <url> (another name, host or user; trac.ini is rewritten to it). Stale SQLite -wal/-shm files are removed; a database newer than this Trac can use is refused.`
  static override examples = [
    '<%= config.bin %> trac restore /backup/project-2026-11-21 /var/trac/project',
    'BK_DB_PASSWORD=… <%= config.bin %> trac restore /backup/pg-hotcopy /var/trac/project --db postgres://trac@db.example.org/trac_restored',
  ]
  static override args = {
    backup: Args.string({description: 'A hotcopy directory or a bk trac backup archive.', required: true}),
    env: Args.string({description: 'The environment to restore into (replaced after confirmation).', required: true}),
  }
  static override flags = {
    db: Flags.string({
      description: 'Load the database here instead (Trac URL, no password: use BK_DB_PASSWORD or --password-file).',
    }),
    'password-file': Flags.string({description: 'File holding the password for --db.'}),
    'max-database-version': Flags.integer({
      description: 'Highest database_version the installed Trac can use (default 45).',
    }),
    'keep-previous': Flags.boolean({description: 'Keep the replaced environment as <env>.old.'}),
  }

  async run() {
    const {args, flags} = this
    if (flags.db) warnIfPasswordInArgv(flags.db, (m) => this.note(m))
    const db = flags.db ? await resolveTracDbUrl(flags.db, flags['password-file']) : undefined
    const result = await restore(args.backup, args.env, {
      db,
      maxDatabaseVersion: flags['max-database-version'],
      keepPrevious: flags['keep-previous'],
      dryRun: flags['dry-run'],
      confirmReplace: (question) => this.confirmOrAbort(question, `replace the Trac environment ${args.env}`),
    })
    return this.report(result, (r) => {
      if (r.dryRun) {
        return `Would restore ${r.source} (database_version ${r.databaseVersion}) to ${r.env}${r.replaced ? ', replacing the environment there' : ''}, loading the ${r.engine} database into ${r.database}; nothing was changed (--dry-run).`
      }
      const rows = r.tables ? Object.values(r.tables).reduce((a, b) => a + b, 0) : undefined
      const lines = [
        `Restored ${r.source} to ${r.env} (${r.engine} database ${r.database}, database_version ${r.databaseVersion ?? '?'}${rows === undefined ? '' : `, ${rows} rows`}).`,
      ]
      if (r.previous) lines.push(`The replaced environment is kept at ${r.previous}.`)
      for (const f of r.removedSideFiles) lines.push(`Removed stale ${f}.`)
      lines.push(
        'Restart every Trac process (tracd, mod_wsgi, fcgi) so none serves cached data from before the restore.',
      )
      return lines
    })
  }
}
