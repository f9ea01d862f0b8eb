import {BkCommand, BkError} from '@bkcli/core'
import {Args} from '@oclif/core'
import {verifyBackup} from '../../verify.js'

export default class Verify extends BkCommand<typeof Verify> {
  static override summary = 'Check a Roundup backup: checksums, database snapshot integrity, schema match.'
  static override examples = ['<%= config.bin %> roundup verify /srv/tracker.backups/tracker-2026-11-21_020000.tar.gz']
  static override args = {backup: Args.string({description: 'a bk roundup backup archive', required: true})}

  async run() {
    const result = await verifyBackup(this.args.backup)
    this.report(result, (r) => [
      `${r.ok ? 'OK' : 'FAILED'}: ${r.backup}`,
      `  ${r.checked} files checked against the manifest; ${r.backend} database, schema version ${r.schemaVersion ?? '?'}`,
      ...r.problems.map((p) => `  problem: ${p}`),
    ])
    if (!result.ok) throw new BkError(`backup ${this.args.backup} failed verification: ${result.problems[0]}`)
    return result
  }
}
