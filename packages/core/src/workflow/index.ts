export {
  type Artifact,
  type ArtifactRow,
  type ArtifactStore,
  artifactRow,
  formatArtifacts,
  newestFirst,
} from './artifacts.js'
export {
  type CommitOptions,
  type CommitPart,
  commitParts,
  journalPathFor,
  pendingCommitStage,
  recoverCommit,
} from './commit.js'
export {sweepLeftovers} from './leftovers.js'
export {type Operation, type OperationContext, type Outcome, type RunSettings, runOperation} from './operation.js'
export {formatPlan, type Plan, type PlanOp, type PlanStep, step} from './plan.js'
export {
  decidePrune,
  type PruneDecision,
  type PruneOutcome,
  type PruneRow,
  pruneOutcome,
  pruneSteps,
  pruneStore,
  removeArtifacts,
} from './prune.js'
export {
  type BackupOutput,
  checkResult,
  type RestoreOutput,
  type ResultEnvelope,
  type ResultKind,
  type VerifyOutput,
} from './results.js'
export {lockDir, lockTargets} from './target-lock.js'
