import {parseAsOf} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {warnIfPasswordInArgv} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {followRestoreOperation, isFollowLocation} from '@bkcli/core/follow'
import {Args, Flags} from '@bkcli/core/oclif'
import {frontendFlags, frontendLines, frontendsFromFlags, hookFlags} from '@bkcli/core/process'
import {resolveTracDbUrl} from '../../db-url.js'
import {tracFollowRestoreTarget} from '../../follow.js'
import {TracRestore} from '../../restore.js'
import {restoreFrontends} from '../../tracd.js'

export default class Restore extends BkCommand<typeof Restore> {
  static override summary = 'Restore a Trac hotcopy or bk backup into an environment, database included.'
  static override description =
    `Takes a hotcopy (trac-admin's or bk's), a bk trac backup archive, or a bk trac follow location (its database and attachments, --as-of a time). The environment (and an SQLite database outside it) is staged complete beside its target and swapped in at one commit point: killed at any instant, the env is the old one or the new one, and the next bk on it finishes or cleans up. The replaced environment and database are kept as <path>.old-<UTC time>, never overwritten. A PostgreSQL or MySQL dump is loaded into a new or empty database: the one in trac.ini, or --db <url> (another name, host or user; trac.ini is rewritten to it). A database newer than this Trac can use is refused. Every tracd found serving the environment (and what --stop-server/--stop-unit/--stop-command name) is stopped first and started again afterwards, also when the restore fails.`
  static override examples = [
    '<%= config.bin %> trac restore /backup/project-2026-11-21 /var/trac/project',
    'BK_DB_PASSWORD=… <%= config.bin %> trac restore /backup/pg-hotcopy /var/trac/project --db postgres://trac@db.example.org/trac_restored',
  ]
  static override args = {
    backup: Args.string({
      description: 'A hotcopy directory, a bk trac backup archive or a bk trac follow location.',
      required: true,
    }),
    env: Args.string({description: 'The environment to restore into (replaced after confirmation).', required: true}),
  }
  static override flags = {
    ...dryRunFlag,
    ...hookFlags,
    db: Flags.string({
      description: 'Load the database here instead (Trac URL, no password: use BK_DB_PASSWORD or --password-file).',
    }),
    'password-file': Flags.string({description: 'File holding the password for --db.'}),
    'as-of': Flags.string({
      description:
        'With a `bk trac follow` location as the backup: the state as of this time (ISO 8601, UTC); default its newest.',
    }),
    'max-database-version': Flags.integer({
      description: 'Highest database_version the installed Trac can use (default 45).',
    }),
    ...frontendFlags('tracd'),
    'stop-tracd': Flags.boolean({
      description:
        'Stop every tracd found serving the environment (its command line names it, or its parent with -e) and start it again afterwards; --no-stop-tracd leaves them running.',
      default: true,
      allowNo: true,
      helpGroup: 'FRONTENDS',
    }),
    'keep-previous': Flags.boolean({
      description: 'Kept for compatibility: the replaced environment is always kept (as <env>.old-<time>).',
      hidden: true,
    }),
  }

  async run() {
    const {args, flags} = this
    const frontends = frontendsFromFlags(flags, {name: 'tracd', match: /tracd|trac\.web/})
    if (await isFollowLocation(args.backup)) {
      // a follow location: its database and attachments as of a time, into the env (its SQLite db and files)
      const target = await tracFollowRestoreTarget(args.env)
      const {operation, render} = await followRestoreOperation(args.backup, {
        ...target,
        asOf: flags['as-of'] ? parseAsOf(flags['as-of']) : undefined,
        frontends: restoreFrontends(args.env, frontends, flags['stop-tracd']),
      })
      return this.execute(operation, render)
    }
    if (flags['as-of']) throw new BkError(`--as-of needs a bk trac follow location; ${args.backup} is not one`)
    if (flags.db) warnIfPasswordInArgv(flags.db, (m) => this.note(m))
    const db = flags.db ? await resolveTracDbUrl(flags.db, flags['password-file']) : undefined
    const restore = await TracRestore.open(args.backup, args.env, {
      db,
      maxDatabaseVersion: flags['max-database-version'],
      frontends,
      stopTracd: flags['stop-tracd'],
    })
    return this.execute(
      {
        kind: 'restore',
        plan: () => restore.plan(),
        confirm: (plan) => restore.confirm(plan),
        locks: restore.locks,
        recover: () => restore.recover(),
        hooks: {env: {BK_TARGET: restore.env}},
        act: async (_plan, context) => {
          const r = await restore.run(context)
          for (const w of frontendLines(r.frontends ?? []).warnings) context.note(w)
          return r
        },
      },
      (r) => {
        const rows = r.tables ? Object.values(r.tables).reduce((a, b) => a + b, 0) : undefined
        return [
          `Restored ${r.source} to ${r.env} (${r.engine} database ${r.database}, database_version ${r.databaseVersion ?? '?'}${rows === undefined ? '' : `, ${rows} rows`}).`,
          ...r.kept.map(
            (k) => `The replaced ${k.startsWith(`${r.env}.`) ? 'environment' : 'database file'} is kept at ${k}.`,
          ),
          ...frontendLines(r.frontends ?? []).info,
          r.frontends?.length
            ? 'Restart any other Trac process (mod_wsgi, fcgi) so none serves cached data from before the restore.'
            : 'Restart every Trac process (tracd, mod_wsgi, fcgi) so none serves cached data from before the restore.',
        ]
      },
    )
  }
}
