import {BkCommand, formatBytes} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {TracEnvironment} from '../../environment.js'
import {hotcopy} from '../../hotcopy.js'

export default class Hotcopy extends BkCommand<typeof Hotcopy> {
  static override summary = 'Copy a live Trac environment, database included, while Trac keeps running.'
  static override description =
    `The same layout as trac-admin hotcopy (SQLite copied into db/, PostgreSQL dumped to db/postgres-db-backup.sql.gz, MySQL to db/mysql-db-backup.sql), but consistent: SQLite through the online backup API (rows still in the -wal file included, writers not blocked), MySQL with --single-transaction. A failed copy leaves nothing behind. Writes bk-manifest.json (checksums, database_version) and reports what the env needs outside itself.`
  static override examples = [
    '<%= config.bin %> trac hotcopy /var/trac/project /backup/project-2026-11-21',
    '<%= config.bin %> trac hotcopy /var/trac/project /backup/project-files --no-database',
  ]
  static override args = {
    env: Args.string({description: 'The Trac environment directory.', required: true}),
    dest: Args.string({description: 'Where to create the copy (must not exist).', required: true}),
  }
  static override flags = {
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
    if (!flags['dry-run']) this.info(`Hotcopying ${env.path} to ${args.dest} ...`)
    const progress = this.progress('copying files')
    const result = await hotcopy(env, args.dest, {
      database: !flags['no-database'],
      includeExternal: flags['include-external'],
      description: flags.description,
      dryRun: flags['dry-run'],
      onProgress: (bytes) => progress.update(bytes),
    })
    progress.done()
    return this.report(result, (r) => {
      if (r.dryRun) {
        const what = r.databasePath ? ` with the ${r.engine} database in ${r.databasePath}` : ' without the database'
        const deps = r.external.map((d) => `  outside the env: ${d.source}: ${d.path}`)
        return [`Would hotcopy ${r.source} to ${r.dest}${what}; nothing was written (--dry-run).`, ...deps]
      }
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
    })
  }
}
