import {BkCommand} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {verifyBackup} from '../../verify.js'

export default class Verify extends BkCommand<typeof Verify> {
  static override summary = 'Read a backup through and check it, without extracting anything.'
  static override description =
    `Checks gzip checksums and tar headers of every entry, refuses entries a restore would refuse, and compares a bk archive with its manifest. Exits non-zero when anything is wrong.`
  static override examples = ['<%= config.bin %> iotstack verify backup/backup_2026-11-21_2219.tar.gz ~/IOTstack']
  static override args = {
    archive: Args.string({description: 'Archive path, or a name under <stack>/backups/.', required: true}),
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    location: Flags.string({description: 'Backups folder (default <stack>/backups).', aliases: ['backups-dir']}),
  }

  async run() {
    const {args, flags} = this
    const result = await verifyBackup(args.archive, args['stack-dir'], {location: flags.location})
    return this.report(result, (r) => [
      `${r.archive}: ok (${r.madeBy === 'bk' ? 'bk archive, matches its manifest' : 'IOTstack archive, no manifest'}; ${r.entries} entries)`,
      `Members: ${r.members.join(', ')}${r.includesEnv ? '' : ' (no .env)'}`,
    ])
  }
}
