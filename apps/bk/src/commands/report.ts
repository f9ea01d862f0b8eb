import {writeFile} from 'node:fs/promises'
import {resolve} from 'node:path'
import {dryRunFlag} from '@bkcli/core/command'
import {jobStatuses, readRuns, renderReport} from '@bkcli/core/jobs'
import {Flags} from '@bkcli/core/oclif'
import {atomicFile} from '@bkcli/core/safety'
import {step} from '@bkcli/core/workflow'
import {JobsCommand} from '../jobs-command.js'

export default class Report extends JobsCommand<typeof Report> {
  static override summary = 'Write one self-contained HTML page: per job a timeline of backups and failures.'
  static override description =
    'From the run log and the artifacts it names: size, duration, verified, off-site, and the errors of failed runs. Inline CSS and SVG only: nothing is fetched when it is viewed.'
  static override examples = ['<%= config.bin %> report --output /var/www/html/bk.html']
  static override flags = {
    ...dryRunFlag,
    output: Flags.string({char: 'o', description: 'The HTML file to write (replaced atomically).', required: true}),
  }

  async run() {
    const config = this.jobsConfig()
    const output = resolve(this.flags.output)
    return this.execute(
      {
        kind: 'operation',
        plan: async () => ({summary: `write the report of ${config.jobs.length} jobs`, steps: [step('write', output)]}),
        act: async () => {
          const html = renderReport(config.jobs, await jobStatuses(config.jobs), await readRuns())
          await atomicFile(output, (tmp) => writeFile(tmp, html), {overwrite: true, mode: 0o644})
          return {output, bytes: Buffer.byteLength(html), jobs: config.jobs.length}
        },
      },
      (r) => `Wrote ${r.output} (${r.jobs} jobs).`,
    )
  }
}
