import {BkCommand, BkError} from '@bkcli/core'
import {Args} from '@oclif/core'
import {verifyBackup} from '../../verify.js'

export default class Verify extends BkCommand<typeof Verify> {
  static override summary = 'Check a site backup without restoring it.'
  static override description =
    `Reads the tarball through (gzip and tar integrity), refuses unsafe entries, checks that settings.php and a plausible database.sql are inside, and compares it with the checksum in bk's sidecar when there is one. Exits non-zero when anything is wrong.`
  static override examples = ['<%= config.bin %> aegir verify /var/aegir/backups/example.com-20261121.222734.tar.gz']
  static override args = {backup: Args.string({description: 'The backup tarball.', required: true})}

  async run() {
    const result = await verifyBackup(this.args.backup)
    this.report(result, (r) =>
      r.ok
        ? `${r.file}: ok (${r.entries} entries, checksum ${r.checksum})`
        : [`${r.file}: NOT OK`, ...r.problems.map((p) => `  ${p}`)],
    )
    if (!result.ok) {
      if (this.flags.json) this.exit(1)
      throw new BkError(`${this.args.backup} failed verification: ${result.problems[0]}`)
    }
    return result
  }
}
