import {VerifyCommand} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import type {VerifyOutput} from '@bkcli/core/workflow'
import {verifyBackup} from '../../verify.js'

export default class Verify extends VerifyCommand<typeof Verify> {
  static override summary = 'Check a site backup without restoring it.'
  static override description =
    `Reads the tarball through (gzip and tar integrity), refuses unsafe entries, checks that settings.php and a plausible database.sql are inside, and compares it with the checksum in bk's sidecar when there is one. Exits non-zero when anything is wrong.`
  static override examples = ['<%= config.bin %> aegir verify /var/aegir/backups/example.com-20261121.222734.tar.gz']
  static override args = {backup: Args.string({description: 'The backup tarball.', required: true})}

  static override flags = {...VerifyCommand.fromFlag}

  protected async check() {
    const result = await verifyBackup(this.args.backup)
    return {...result, artifact: result.file, checked: result.entries}
  }

  protected override describe(result: VerifyOutput & Record<string, unknown>): string[] {
    return [`${result.entries} entries, checksum ${result.checksum}`]
  }
}
