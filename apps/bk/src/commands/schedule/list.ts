import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {unitName} from '@bkcli/core/jobs'
import {JobsCommand} from '../../jobs-command.js'
import {scheduleFlags, scheduleTarget} from '../../schedule.js'

export default class ScheduleList extends JobsCommand<typeof ScheduleList> {
  static override summary = 'List the jobs with their schedule and whether their timer (or cron line) is installed.'
  static override examples = ['<%= config.bin %> schedule list']
  static override flags = {...scheduleFlags}

  async run() {
    const config = this.jobsConfig()
    const target = scheduleTarget(this.flags)
    const cron = target.scheduler === 'cron' && existsSync(target.cronFile) ? readFileSync(target.cronFile, 'utf8') : ''
    const jobs = config.jobs.map((job) => ({
      job: job.name,
      schedule: job.schedule,
      run: `bk ${job.argv.join(' ')}`,
      installed:
        target.scheduler === 'systemd'
          ? existsSync(join(target.unitDir, `${unitName(job)}.timer`))
          : cron.includes(` run ${job.name} `),
    }))
    return this.report({scheduler: target.scheduler, jobs}, (r) =>
      r.jobs.map((j) => `${j.installed ? 'installed' : 'not installed'}  ${j.job}  ${j.schedule}  ${j.run}`),
    )
  }
}
