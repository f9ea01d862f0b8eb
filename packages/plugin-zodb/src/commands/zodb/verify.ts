import {VerifyCommand} from '@bkcli/core/command'
import {Flags} from '@bkcli/core/oclif'
import {siteFlags} from '../../flags.js'
import {verifySite, verifyText} from '../../inspect.js'
import {resolveSite} from '../../settings.js'

export default class Verify extends VerifyCommand<typeof Verify> {
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

  protected async check() {
    const site = await resolveSite(this.flags)
    const report = await verifySite(site, this.flags.snapshot ? 'snapshot' : this.flags.zip ? 'zip' : 'backup')
    const problems = report.storages.flatMap((s) => [
      ...s.chains.filter((c) => !c.ok).map((c) => `${s.repository}: ${c.full}: ${c.problem}`),
      ...s.blobs.filter((b) => !b.ok).map((b) => `${s.repository}: ${b.name}: ${b.problem}`),
    ])
    const checked = report.storages.reduce((n, s) => n + s.chains.length + s.blobs.length, 0)
    return {...report, artifact: report.storages.map((s) => s.repository).join(', '), checked, problems}
  }

  protected override describe(result: Awaited<ReturnType<Verify['check']>>) {
    return verifyText(result)
      .slice(0, -1)
      .concat(result.ok ? ['All backups verified.'] : [])
  }
}
