export {type AlertEvent, announce} from './alerts.js'
export {splitCommandLine} from './argv.js'
export {
  type AlertTargets,
  type Job,
  type JobsConfig,
  parseJobs,
  selectJobs,
} from './config.js'
export {renderReport} from './report.js'
export {appendRun, type RunRecord, readRuns} from './runlog.js'
export {type BkInvocation, runJob} from './runner.js'
export {
  cronLines,
  DEFAULT_CRON_FILE,
  defaultUnitDir,
  detectScheduler,
  type ScheduleFile,
  type Scheduler,
  systemdUnits,
  unitName,
} from './schedule.js'
export {stateDir} from './state.js'
export {type JobState, type JobStatus, jobStatuses} from './status.js'
