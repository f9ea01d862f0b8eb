import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {warnIfPasswordInArgv} from '@bkcli/core/db'
import {BkError} from '@bkcli/core/errors'
import {Args, Flags} from '@bkcli/core/oclif'
import {TracConvert} from '../../convert/convert.js'
import {resolveTracDbUrl} from '../../db-url.js'
import {TracEnvironment} from '../../environment.js'

export default class Convert extends BkCommand<typeof Convert> {
  static override summary = "Move a Trac environment's database to SQLite, PostgreSQL or MySQL/MariaDB."
  static override description =
    `What trac-admin convert_db does, natively: every table — plugin tables included, which convert_db drops — is copied in batches inside one transaction on the target, each table's row count checked before commit, PostgreSQL sequences reset. The target database must be empty (it is created when missing, and dropped again when the conversion fails or is killed; one that was empty is emptied again). Into a new environment (a copy of the whole env), or --in-place (trac.ini saved as trac.ini.convert_db-<time>, then [trac] database changed, comments kept). Stop Trac first: the source is read in one snapshot, but writes after it are not copied.`
  /** trac-admin's spelling */
  static override aliases = ['trac:convert_db']
  static override examples = [
    '<%= config.bin %> trac convert /var/trac/project /var/trac/project-pg --to postgres://trac@localhost/trac',
    '<%= config.bin %> trac convert /var/trac/project --in-place --to sqlite:db/trac.db',
  ]
  static override args = {
    env: Args.string({description: 'The Trac environment.', required: true}),
    'new-env': Args.string({
      description: "A new environment to create (omit with --in-place); or, trac-admin's form, the target DBURI.",
    }),
    'admin-new-env': Args.string({description: "trac-admin's form only: the new environment after DBURI."}),
  }
  static override flags = {
    ...dryRunFlag,
    to: Flags.string({
      description:
        "Target database, in Trac URL form (postgresql:// and mariadb:// accepted); trac-admin's `convert_db ENV DBURI [NEW-ENV]` also works.",
    }),
    'in-place': Flags.boolean({description: 'Convert the environment itself instead of creating a new one.'}),
    'password-file': Flags.string({description: 'File holding the password for --to.'}),
    'batch-size': Flags.integer({description: 'Rows per INSERT batch.', default: 500, min: 1}),
  }

  async run() {
    const {args, flags} = this
    let target = flags.to
    let newEnv = args['new-env']
    let inPlace = flags['in-place']
    // trac-admin's command line: convert_db <dburi> [new_env] (no new_env: in place)
    if (!target && newEnv && /^(sqlite|postgres|postgresql|mysql|mariadb):/.test(newEnv)) {
      target = newEnv
      newEnv = args['admin-new-env']
      inPlace = inPlace || !newEnv
    } else if (args['admin-new-env']) {
      throw new BkError(`unexpected argument ${args['admin-new-env']}: give the target database with --to`, {exit: 2})
    }
    if (!target)
      throw new BkError(
        'give the target database with --to <dburi> (or as trac-admin: convert_db ENV DBURI [NEW-ENV])',
        {exit: 2},
      )
    if (!newEnv && !inPlace) throw new BkError('give a new environment path, or --in-place')
    if (newEnv && inPlace) throw new BkError('give either a new environment path or --in-place, not both')
    warnIfPasswordInArgv(target, (m) => this.note(m))
    const to = await resolveTracDbUrl(target, flags['password-file'])
    const env = await TracEnvironment.open(args.env)
    const convert = new TracConvert(env, {
      to,
      newEnv,
      batchSize: flags['batch-size'],
      onTable: (t) => this.info(`  ${t.name} table... ${t.rows} records.${t.trac ? '' : ' (plugin table)'}`),
    })
    return this.execute(
      {
        kind: 'restore',
        plan: () => convert.plan(),
        locks: convert.locks,
        recover: () => convert.recover(),
        act: (_plan, context) => {
          context.info('Copying tables:')
          return convert.run()
        },
      },
      (r) => [
        `Converted ${r.tables.length} tables (${r.rows} rows${r.pluginTables.length ? `, plugin tables: ${r.pluginTables.join(', ')}` : ''}) from ${r.from} to ${r.to}${r.inPlace ? '' : ` in the new environment ${r.env}`}.`,
        ...(r.configBackup ? [`The previous trac.ini is saved as ${r.configBackup}.`] : []),
      ],
    )
  }
}
