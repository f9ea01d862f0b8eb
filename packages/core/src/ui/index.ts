export {createProgress, formatBytes, type Progress} from './progress.js'
export {confirm} from './prompt.js'
export {redact, redactText} from './redact.js'
