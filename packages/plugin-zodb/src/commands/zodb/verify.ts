import {BkCommand} from '@bkcli/core'
import {Flags} from '@oclif/core'
import {siteFlags} from '../../flags.js'
import {verifySite, verifyText} from '../../inspect.js'
import {resolveSite} from '../../settings.js'

export default class Verify extends BkCommand<typeof Verify> {
  static override summary =
    'Check that every backup in the repository restores: files, sizes, md5s, gaps, FileStorage structure.'
  static override description =
    `Reads every chain (full backup + incrementals) through, as a restore would, without writing anything.
Unlike repozo -V it checks all chains, reports every problem, and detects missing middle incrementals.
Exits 1 when anything fails.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --snapshot --json',
  ]
  static override flags = {
    ...siteFlags,
    snapshot: Flags.boolean({description: 'Verify the snapshot locations.', exclusive: ['zip']}),
    zip: Flags.boolean({description: 'Verify the zip locations.'}),
  }

  async run() {
    const {flags} = await this.parse(Verify)
    const site = await resolveSite(flags)
    const result = await verifySite(site, flags.snapshot ? 'snapshot' : flags.zip ? 'zip' : 'backup')
    this.report(result, verifyText)
    if (!result.ok) {
      process.stderr.write('bk: verification failed: see the report above\n')
      this.exit(1)
    }
    return result
  }
}
