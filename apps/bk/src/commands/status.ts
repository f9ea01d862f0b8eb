import {jobStatuses, selectJobs} from '@bkcli/core/jobs'
import {Args} from '@bkcli/core/oclif'
import {formatBytes} from '@bkcli/core/ui'
import {JobsCommand} from '../jobs-command.js'

export default class Status extends JobsCommand<typeof Status> {
  static override summary = "Each job's last good backup: its age, size, whether it verified and has an off-site copy."
  static override description =
    'Reads only the run log and the artifacts it names. A job that failed last, whose last good backup is older than stale-after (default twice its schedule), or whose artifacts are gone makes the exit code 1 (for Nagios, monit, cron mail).'
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']
  static override resultKind = 'status' as const
  static override strict = false
  static override args = {job: Args.string({description: 'Job names (default: every job).'})}

  async run() {
    const config = this.jobsConfig()
    const names = this.positionals
    const jobs = await jobStatuses(selectJobs(config, names))
    const ok = jobs.every((j) => j.state === 'ok')
    this.report({ok, jobs}, (r) =>
      r.jobs.map((j) => {
        const good = j.lastGood
        const age = good ? `${(good.ageSeconds / 3600).toFixed(1)} h ago` : 'never'
        const extra = good
          ? `${formatBytes(good.bytes)}, verified ${good.verified === undefined ? '–' : good.verified ? 'yes' : 'no'}, off-site ${good.offsite ? 'yes' : 'no'}`
          : ''
        return `${j.state.toUpperCase().padEnd(7)}  ${j.job}  last good ${age}${extra ? `  (${extra})` : ''}${j.problems.length > 0 ? `  — ${j.problems.join('; ')}` : ''}`
      }),
    )
    if (!ok) {
      const bad = jobs.filter((j) => j.state !== 'ok')
      process.stderr.write(
        `${this.config.bin}: ${bad.length} job(s) need attention: ${bad.map((j) => `${j.job} (${j.state})`).join(', ')}\n`,
      )
      this.exit(1)
    }
    return {ok, jobs}
  }
}
