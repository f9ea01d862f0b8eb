export {
  type Frontend,
  type FrontendReport,
  findProcesses,
  frontendFlags,
  frontendLines,
  frontendName,
  frontendSteps,
  frontendsFromFlags,
  type ProcessInfo,
  pidFromFile,
  serviceUnitOf,
  withFrontendsStopped,
} from './frontends.js'
export {type HookOptions, type Hooks, hookFlags, hooksFromFlags, runHook, withHooks} from './hooks.js'
export {whichProgram} from './program.js'
export {
  type ExtraFd,
  lastLine,
  runTool,
  runToolSync,
  startTool,
  type ToolOptions,
  type ToolResult,
} from './tool.js'
