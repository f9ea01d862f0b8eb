import {dryRunFlag} from '@bkcli/core/command'
import {selectJobs} from '@bkcli/core/jobs'
import {Args} from '@bkcli/core/oclif'
import {JobsCommand} from '../../jobs-command.js'
import {installSchedule, scheduleFlags, schedulePlan, scheduleTarget} from '../../schedule.js'

export default class ScheduleInstall extends JobsCommand<typeof ScheduleInstall> {
  static override summary = 'Install a systemd timer (or a cron line where there is no systemd) for each job.'
  static override description =
    'Each job gets bk-<job>.service (runs bk run <job> --quiet with this config file) and bk-<job>.timer (OnCalendar = its schedule, Persistent, so a missed run happens at boot). Without systemd, one /etc/cron.d/bk file holds a line per job. --dry-run prints the files instead.'
  static override examples = [
    '<%= config.bin %> schedule install --dry-run',
    '<%= config.bin %> schedule install trac-main --yes',
  ]
  static override strict = false
  static override args = {job: Args.string({description: 'Job names (default: every job).'})}
  static override flags = {...dryRunFlag, ...scheduleFlags}

  async run() {
    const config = this.jobsConfig()
    const jobs = selectJobs(config, this.positionals)
    const target = scheduleTarget(this.flags)
    const all = config.jobs
    return this.execute(
      {
        kind: 'operation',
        plan: async () => schedulePlan('install', target, jobs, all, this.invocation()),
        confirm: (plan) => ({
          question: `Write ${plan.files?.length ?? 0} file(s) and enable the timers?`,
          action: 'install timers',
        }),
        act: async (plan) => installSchedule(target, jobs, plan),
      },
      (r) => [...r.written.map((p) => `Wrote ${p}`), ...r.ran.map((c) => `Ran ${c}`)],
    )
  }
}
