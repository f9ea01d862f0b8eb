import {dryRunFlag} from '@bkcli/core/command'
import {selectJobs} from '@bkcli/core/jobs'
import {Args} from '@bkcli/core/oclif'
import {JobsCommand} from '../../jobs-command.js'
import {removeSchedule, scheduleFlags, schedulePlan, scheduleTarget} from '../../schedule.js'

export default class ScheduleRemove extends JobsCommand<typeof ScheduleRemove> {
  static override summary = "Remove the jobs' timers (or their cron lines)."
  static override examples = [
    '<%= config.bin %> schedule remove --yes',
    '<%= config.bin %> schedule remove trac-main --dry-run',
  ]
  static override strict = false
  static override args = {job: Args.string({description: 'Job names (default: every job).'})}
  static override flags = {...dryRunFlag, ...scheduleFlags}

  async run() {
    const config = this.jobsConfig()
    const jobs = selectJobs(config, this.positionals)
    const target = scheduleTarget(this.flags)
    return this.execute(
      {
        kind: 'operation',
        plan: async () => schedulePlan('remove', target, jobs, config.jobs, this.invocation()),
        confirm: (plan) =>
          plan.steps.length > 0
            ? {question: `Remove ${plan.steps.length} schedule file(s)?`, action: 'remove timers'}
            : undefined,
        act: async (plan) => removeSchedule(target, jobs, plan),
      },
      (r) =>
        r.removed.length === 0 && r.written.length === 0
          ? ['Nothing was scheduled.']
          : [
              ...r.removed.map((p) => `Removed ${p}`),
              ...r.written.map((p) => `Rewrote ${p}`),
              ...r.ran.map((c) => `Ran ${c}`),
            ],
    )
  }
}
