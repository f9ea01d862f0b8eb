export {
  checkTargets,
  copyOffsite,
  listOffsite,
  type OffsiteCopy,
  type OffsiteSettings,
  offsiteSteps,
  type PullOutput,
  planPullSteps,
  pullEntries,
  recoverPull,
  withFetched,
} from './copy.js'
export {offsiteFlags} from './flags.js'
export {
  copyEntry,
  entryArtifact,
  entryOf,
  fetchEntry,
  listEntries,
  type OffsiteEntry,
  removeEntries,
  rootFor,
} from './remote.js'
export {assertResticPassword, isEncrypting, type OffsiteTarget, offsiteTool, parseTarget} from './target.js'
