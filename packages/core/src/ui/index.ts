export {
  createProgress,
  formatBytes,
  type Progress,
  type ProgressMode,
  type ProgressUnit,
  progressOutput,
  setProgressOutput,
  stepProgress,
  withStep,
} from './progress.js'
export {confirm} from './prompt.js'
export {redact, redactText} from './redact.js'
export {setWarningOutput, warn} from './warn.js'
