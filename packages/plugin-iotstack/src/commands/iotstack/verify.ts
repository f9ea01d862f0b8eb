import {locationFlag, VerifyCommand} from '@bkcli/core/command'
import {Args} from '@bkcli/core/oclif'
import type {VerifyOutput} from '@bkcli/core/workflow'
import {checkBackup} from '../../verify.js'

export default class Verify extends VerifyCommand<typeof Verify> {
  static override summary = 'Read a backup through and check it, without extracting anything.'
  static override description =
    `Checks gzip checksums and tar headers of every entry, refuses entries a restore would refuse, and compares a bk archive with its manifest. Exits non-zero when anything is wrong.`
  static override examples = ['<%= config.bin %> iotstack verify backup/backup_2026-11-21_2219.tar.gz ~/IOTstack']
  static override args = {
    archive: Args.string({description: 'Archive path, or a name under <stack>/backups/.', required: true}),
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    ...VerifyCommand.fromFlag,
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
  }

  protected check() {
    return checkBackup(this.args.archive, this.args['stack-dir'], {location: this.flags.location})
  }

  protected override describe(r: VerifyOutput & Record<string, unknown>): string[] {
    if (!r.ok) return []
    const members = (r.members as string[] | undefined) ?? []
    return [
      r.madeBy === 'bk' ? 'bk archive, matches its manifest' : 'IOTstack archive, no manifest',
      `members: ${members.join(', ')}${r.includesEnv ? '' : ' (no .env)'}`,
    ]
  }
}
