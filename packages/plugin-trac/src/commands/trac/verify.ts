import {VerifyCommand} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {resolveTracDbUrl} from '../../db-url.js'
import {type VerifyResult, verifyBackup} from '../../verify.js'

export default class Verify extends VerifyCommand<typeof Verify> {
  static override summary = 'Check a Trac backup: checksums, then a scratch restore of its database.'
  static override description =
    `Checks every file against the manifest, then restores to scratch: SQLite gets PRAGMA integrity_check, a PostgreSQL/MySQL dump is loaded into a scratch database (dropped afterwards) on the backup's server or --scratch-db. VERSION and database_version are checked. Exit 1 when anything is wrong.`
  static override examples = ['<%= config.bin %> trac verify /backup/trac/project-2026-11-21_020000.tar.gz']
  static override args = {
    backup: Args.string({description: 'A bk trac backup archive or bk hotcopy directory.', required: true}),
  }
  static override flags = {
    ...VerifyCommand.fromFlag,
    'scratch-db': Flags.string({description: 'Server for the scratch load (Trac URL; the database name is ignored).'}),
    'password-file': Flags.string({description: 'File holding the password for --scratch-db.'}),
  }

  protected async check() {
    const scratch = this.flags['scratch-db']
    const scratchServer = scratch ? await resolveTracDbUrl(scratch, this.flags['password-file']) : undefined
    return (await verifyBackup(this.args.backup, {scratchServer})) as VerifyResult & Record<string, unknown>
  }

  protected override describe(r: VerifyResult & Record<string, unknown>): string[] {
    const lines = [`${r.checked} files checked against the manifest`]
    if (r.engine) {
      const tables = r.tables ? `, ${Object.keys(r.tables).length} tables` : ''
      lines.push(`${r.engine} database, database_version ${r.databaseVersion ?? '?'}${tables}`)
    }
    return lines
  }
}
