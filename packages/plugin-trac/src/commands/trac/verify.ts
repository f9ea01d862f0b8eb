import {BkCommand, BkError} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {resolveTracDbUrl} from '../../db-url.js'
import {verifyBackup} from '../../verify.js'

export default class Verify extends BkCommand<typeof Verify> {
  static override summary = 'Check a Trac backup: checksums, then a scratch restore of its database.'
  static override description =
    `Checks every file against the manifest, then restores to scratch: SQLite gets PRAGMA integrity_check, a PostgreSQL/MySQL dump is loaded into a scratch database (dropped afterwards) on the backup's server or --scratch-db. VERSION and database_version are checked. Exit 1 when anything is wrong.`
  static override examples = ['<%= config.bin %> trac verify /backup/trac/project-2026-11-21_020000.tar.gz']
  static override args = {
    backup: Args.string({description: 'A bk trac backup archive or bk hotcopy directory.', required: true}),
  }
  static override flags = {
    'scratch-db': Flags.string({description: 'Server for the scratch load (Trac URL; the database name is ignored).'}),
    'password-file': Flags.string({description: 'File holding the password for --scratch-db.'}),
  }

  async run() {
    const {args, flags} = this
    const scratch = flags['scratch-db']
    const scratchServer = scratch ? await resolveTracDbUrl(scratch, flags['password-file']) : undefined
    const result = await verifyBackup(args.backup, {scratchServer})
    this.report(result, (r) => {
      const lines = [`${r.ok ? 'OK' : 'FAILED'}: ${r.backup}`, `  ${r.checked} files checked against the manifest`]
      if (r.engine)
        lines.push(
          `  ${r.engine} database, database_version ${r.databaseVersion ?? '?'}${r.tables ? `, ${Object.keys(r.tables).length} tables` : ''}`,
        )
      for (const p of r.problems) lines.push(`  problem: ${p}`)
      return lines
    })
    if (!result.ok) throw new BkError(`backup ${args.backup} failed verification: ${result.problems[0]}`)
    return result
  }
}
