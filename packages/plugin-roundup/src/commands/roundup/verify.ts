import {VerifyCommand} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import type {VerifyOutput} from '@bkcli/core/workflow'
import {verifyBackup} from '../../verify.js'

export default class Verify extends VerifyCommand<typeof Verify> {
  static override summary = 'Check a Roundup backup: checksums, database snapshot integrity, schema match.'
  static override examples = ['<%= config.bin %> roundup verify /srv/tracker.backups/tracker-2026-11-21_020000.tar.gz']
  static override args = {backup: Args.string({description: 'a bk roundup backup archive', required: true})}

  static override flags = {...VerifyCommand.fromFlag}

  protected async check(): Promise<VerifyOutput & Record<string, unknown>> {
    const r = await verifyBackup(this.args.backup)
    return {artifact: r.backup, ...r}
  }

  protected override describe(r: VerifyOutput & Record<string, unknown>): string[] {
    return [`files checked against the manifest; ${r.backend} database, schema version ${r.schemaVersion ?? '?'}`]
  }
}
