import type {RetentionPolicy} from '../catalog/retention.js'
import {checkTargets, copyOffsite, type OffsiteCopy, type OffsiteSettings, offsiteSteps} from '../offsite/copy.js'
import {type Hooks, withHooks} from '../process/hooks.js'
import type {Progress} from '../ui/progress.js'
import type {Artifact, ArtifactStore} from './artifacts.js'
import type {Plan} from './plan.js'
import {decidePrune, type PruneOutcome, pruneSteps, pruneStore} from './prune.js'
import type {ResultKind} from './results.js'
import {lockTargets} from './target-lock.js'

/** What core gives an operation while it acts. */
export interface OperationContext {
  progress(label: string, total?: number): Progress
  /** Narration (stdout; stderr under --json; nothing under --quiet). */
  info(message: string): void
  /** A warning (stderr; not under --quiet). */
  note(message: string): void
  /**
   * A warning that --quiet does not hide (stderr, also under --json): the result may not be what the user counts on
   * (e.g. database files copied while their server ran). For cron, where --quiet hides everything else.
   */
  warn(message: string): void
}

/**
 * The application contract for one mutating command. A plugin says what only it knows — how to plan, what to
 * lock, what to ask, how to act — and core runs the workflow in one order for every plugin:
 *   plan → (--dry-run: print it, stop) → confirm → lock → recover leftovers → pre-hooks → act → retention →
 *   post-hooks (BK_STATUS/BK_ERROR) → one result for text and --json.
 */
export interface Operation<R extends object> {
  /** Names the result's JSON schema (see results.ts). */
  kind: ResultKind
  /** Reads only, never writes: what would be done. Throws the same one-line errors the real run would. */
  plan(): Promise<Plan>
  /** Destructive work asks first (after the plan is shown); --yes answers, no terminal without --yes refuses. */
  confirm?(plan: Plan): {question: string; action: string} | undefined
  /** Paths locked for the whole run (target, location): another bk on any of them is refused, naming its pid. */
  locks?: string[]
  /** Under the lock, before acting: finish or roll back what a killed run left; returns one line per thing done. */
  recover?(): Promise<string[]>
  /** Does the work the plan describes. */
  act(plan: Plan, context: OperationContext): Promise<R>
  /** Run the user's pre/post commands around recover+act (backups and restores). */
  hooks?: {env?: Record<string, string | undefined>; cwd?: string}
  /** After a backup: prune the location by these rules (only when a rule was given). */
  retention?: {
    policy: RetentionPolicy
    store(): Promise<ArtifactStore>
    /** The artifact this run will add, so a dry run shows what the real run would prune. */
    upcoming?(plan: Plan): Artifact | undefined
  }
  /**
   * After a backup (and before retention): copy what it made off-site (--copy-to), then apply the retention rules
   * on the target too. The targets are checked before anything is written (an unencrypted one is refused for
   * artifacts holding secrets). The act's result must list what it made in `artifacts[].path`.
   */
  offsite?: OffsiteSettings
}

/** What the command gives an operation to run under: dry run, its name, confirmation, hooks and context. */
export interface RunSettings {
  dryRun: boolean
  /** The command line's name for lock files and messages: 'bk trac restore'. */
  operation: string
  confirm(question: string, action: string): Promise<void>
  hooks: Hooks
  context: OperationContext
}

/** What an operation ended with: a result, or the plan of a dry run. */
export type Outcome<R> =
  | {dryRun: true; plan: Plan}
  | {dryRun: false; plan: Plan; result: R; pruned?: PruneOutcome; offsite?: OffsiteCopy[]; recovered: string[]}

/** Runs an operation through core's workflow; see Operation. */
export async function runOperation<R extends object>(op: Operation<R>, settings: RunSettings): Promise<Outcome<R>> {
  const plan = await op.plan()
  if (settings.dryRun) {
    if (op.offsite) plan.steps.push(...offsiteSteps(op.offsite))
    if (op.retention) plan.steps.push(...(await retentionSteps(op, plan)))
    return {dryRun: true, plan}
  }
  const targets = op.offsite ? await checkTargets(op.offsite) : []
  const question = op.confirm?.(plan)
  if (question) await settings.confirm(question.question, question.action)
  const release = await lockTargets(op.locks ?? [], settings.operation)
  try {
    const body = async () => {
      const recovered = (await op.recover?.()) ?? []
      for (const line of recovered) settings.context.note(line)
      const result = await op.act(plan, settings.context)
      let offsite: OffsiteCopy[] | undefined
      if (op.offsite) {
        const made = ((result as {artifacts?: {path: string}[]}).artifacts ?? []).map((a) => a.path)
        offsite = await copyOffsite({...op.offsite, policy: op.offsite.policy ?? op.retention?.policy}, targets, made)
      }
      let pruned: PruneOutcome | undefined
      if (op.retention) pruned = await pruneStore(await op.retention.store(), op.retention.policy)
      return {dryRun: false as const, plan, result, pruned, offsite, recovered}
    }
    if (!op.hooks) return await body()
    return await withHooks({...settings.hooks, ...op.hooks, env: {...settings.hooks.env, ...op.hooks.env}}, body)
  } finally {
    await release()
  }
}

async function retentionSteps<R extends object>(op: Operation<R>, plan: Plan): Promise<Plan['steps']> {
  const retention = op.retention
  if (!retention) return []
  const store = await retention.store()
  const decision = decidePrune(
    await store.list(),
    {clock: store.clock, ...retention.policy},
    {
      upcoming: retention.upcoming?.(plan),
    },
  )
  return pruneSteps(decision)
}
