import {dryRunFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {type RunRecord, runJob, selectJobs} from '@bkcli/core/jobs'
import {Args} from '@bkcli/core/oclif'
import {step} from '@bkcli/core/workflow'
import {JobsCommand} from '../jobs-command.js'

export default class Run extends JobsCommand<typeof Run> {
  static override summary = 'Run the jobs of bk.yml (all, or those named), each under its own lock, with alerts.'
  static override description = `A job is a bk command line with a schedule:

  jobs:
    - name: trac-main
      run: trac backup /srv/trac/main --location /srv/backups/trac --keep-daily 7
      schedule: daily            # hourly, daily, weekly, monthly or a systemd OnCalendar expression
      ping: https://hc-ping.com/<uuid>   # optional: <url>/start, <url> on success, <url>/fail with the error
      verify: true               # optional: bk <app> verify what it made
  alerts:                        # optional, for every job that sets none of its own
    ntfy: https://ntfy.sh/<topic>
    mail: admin@example.org      # through the local sendmail

Jobs run in order; a failing job does not stop the others, and the exit code is 1 if any failed. Each run is recorded in the run log (BK_STATE_DIR, /var/lib/bk for root) that bk status and bk report read.`
  static override examples = ['<%= config.bin %> run', '<%= config.bin %> run trac-main --quiet']
  static override strict = false
  static override args = {job: Args.string({description: 'Job names (default: every job).'})}
  static override flags = {...dryRunFlag}

  async run() {
    const config = this.jobsConfig()
    const names = this.positionals
    const jobs = selectJobs(config, names)
    const result = await this.execute(
      {
        kind: 'operation',
        plan: async () => ({
          summary: `run ${jobs.length} job(s)`,
          steps: jobs.map((j) => step('run', `bk ${j.argv.join(' ')}`, `job ${j.name}, ${j.schedule}`)),
        }),
        act: async () => {
          const runs: RunRecord[] = []
          for (const job of jobs) {
            this.info(`job ${job.name}: bk ${job.argv.join(' ')}`)
            runs.push(
              await runJob(job, {
                bk: this.invocation(),
                alerts: config.alerts,
                quiet: Boolean(this.flags.quiet),
                warn: (m) => this.note(m),
              }),
            )
          }
          return {ok: runs.every((r) => r.status === 'ok'), runs}
        },
      },
      (r) =>
        r.runs.map(
          (run) =>
            `${run.status === 'ok' ? 'ok    ' : 'FAILED'}  ${run.job}  ${run.seconds} s${run.error ? `  ${run.error.split('\n').at(-1)}` : ''}`,
        ),
    )
    if ('runs' in result && !result.ok) {
      const failed = result.runs.filter((r) => r.status === 'failed').map((r) => r.job)
      throw new BkError(`${failed.length} of ${result.runs.length} jobs failed: ${failed.join(', ')}`, {code: 'EJOBS'})
    }
    return result
  }
}
