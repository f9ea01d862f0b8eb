import {basename, dirname, resolve} from 'node:path'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {hookFlags} from '@bkcli/core/process'
import {formatBytes} from '@bkcli/core/ui'
import {sweepLeftovers} from '@bkcli/core/workflow'
import {TracEnvironment} from '../../environment.js'
import {hotcopy, planHotcopy} from '../../hotcopy.js'
import {recoverEnv} from '../../restore.js'

export default class Hotcopy extends BkCommand<typeof Hotcopy> {
  static override summary = 'Copy a live Trac environment, database included, while Trac keeps running.'
  static override description =
    `The same layout as trac-admin hotcopy (SQLite copied into db/, PostgreSQL dumped to db/postgres-db-backup.sql.gz, MySQL to db/mysql-db-backup.sql), but consistent: SQLite as one snapshot with rows still in the -wal file included (in WAL mode writers are not blocked; in rollback-journal mode the read lock is held at most 0.6 s at a time, so writers wait under 1 s, unless the database changed under every pass for a minute: then one last pass holds it, with a warning), MySQL with --single-transaction. A failed copy leaves nothing behind. Writes bk-manifest.json (checksums, database_version) and reports what the env needs outside itself.`
  static override examples = [
    '<%= config.bin %> trac hotcopy /var/trac/project /backup/project-2026-11-21',
    '<%= config.bin %> trac hotcopy /var/trac/project /backup/project-files --no-database',
  ]
  static override args = {
    env: Args.string({description: 'The Trac environment directory.', required: true}),
    dest: Args.string({description: 'Where to create the copy (must not exist).', required: true}),
  }
  static override flags = {
    ...dryRunFlag,
    ...hookFlags,
    'no-database': Flags.boolean({description: 'Copy the files only, not the database.'}),
    'include-external': Flags.boolean({
      description:
        'Also copy what the env uses outside itself (inherited trac.ini files, authz/password files, shared dirs) into bk-external/.',
    }),
    description: Flags.string({description: 'A note stored in the manifest.'}),
  }

  async run() {
    const {args, flags} = this
    const env = await TracEnvironment.open(args.env)
    const dest = resolve(args.dest)
    const options = {
      database: !flags['no-database'],
      includeExternal: flags['include-external'],
      description: flags.description,
    }
    return this.execute(
      {
        kind: 'backup',
        plan: () => planHotcopy(env, args.dest, options),
        locks: [env.path, dest],
        recover: async () => [
          ...(await recoverEnv(env.path)),
          ...(await sweepLeftovers(dirname(dest), basename(dest))),
        ],
        hooks: {env: {BK_TARGET: env.path, BK_DESTINATION: dest}},
        act: async (_plan, context) => {
          context.info(`Hotcopying ${env.path} to ${args.dest} ...`)
          const progress = context.progress('copying files')
          const r = await hotcopy(env, args.dest, {...options, onProgress: (bytes) => progress.update(bytes)})
          progress.done()
          return {...r, artifacts: [{path: r.dest, bytes: r.bytes, kind: 'hotcopy'}]}
        },
      },
      (r) => {
        const lines = [
          `Hotcopied ${r.files} files${r.database ? ` and the ${r.engine} database (${r.database.path}, database_version ${r.databaseVersion ?? '?'})` : ''} to ${r.dest} (${formatBytes(r.bytes)}).`,
        ]
        for (const s of r.skipped) lines.push(`  not copied (socket, fifo or device): ${s}`)
        const outside = r.external.filter((d) => d.kind !== 'database' || !r.database)
        if (outside.length > 0) {
          lines.push(
            `The environment uses ${outside.length} path(s) outside itself${r.externalIncluded ? ' (copied into bk-external/)' : ' (not copied; --include-external copies them)'}:`,
          )
          for (const d of outside) lines.push(`  ${d.source}: ${d.path}${d.exists ? '' : ' (missing)'}`)
        }
        lines.push('Hotcopy done.')
        return lines
      },
    )
  }
}
