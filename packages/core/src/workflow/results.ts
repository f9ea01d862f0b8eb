import {readFileSync} from 'node:fs'
import type {PruneOutcome} from './prune.js'

/**
 * Every command's --json document is one of these kinds, each with a committed JSON Schema in
 * `packages/core/schemas/<kind>.schema.json`. Common fields: kind, app, command, dryRun.
 * - backup:    an artifact made (backup, hotcopy, export, snapshotbackup …): artifacts[], pruned?
 * - restore:   a target replaced or filled (restore, import, migrate, clone, convert …): source, target, kept?
 * - list / prune / verify: the shared verbs, the same shape in every plugin
 * - plan:      what --dry-run would do (nothing changed)
 * - status:    `bk status`: each job's state
 * - operation: anything else (pull, status)
 * - error:     {ok: false, error: {code, message}}
 */
export const RESULT_KINDS = [
  'backup',
  'restore',
  'list',
  'prune',
  'verify',
  'plan',
  'status',
  'operation',
  'error',
] as const
/** The kinds of result a command prints, each with a JSON Schema in `schemas/`. */
export type ResultKind = (typeof RESULT_KINDS)[number]

/** The fields core adds to every result. */
export interface ResultEnvelope {
  kind: ResultKind
  app: string
  command: string
  dryRun: boolean
}

/** What a backup-like act returns at least (the plugin adds its own fields). */
export interface BackupOutput {
  artifacts: {path: string; bytes: number; kind?: string}[]
  pruned?: PruneOutcome
}

/** What a restore-like act returns at least. */
export interface RestoreOutput {
  source: string
  target: string
  /** What of the previous state was kept (paths, databases): the output promises these exist. */
  kept?: string[]
}

/** What a verify found: the artifact, whether it is good, what was checked and the problems. */
export interface VerifyOutput {
  artifact: string
  ok: boolean
  checked: number
  problems: string[]
}

/** The committed schema of a result kind (JSON). */
export function resultSchema(kind: ResultKind): Record<string, unknown> {
  const url = new URL(`../../schemas/${kind}.schema.json`, import.meta.url)
  return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>
}

type Validator = ((doc: unknown) => boolean) & {errors?: {instancePath: string; message?: string}[] | null}
const validators = new Map<ResultKind, Validator>()

/**
 * Checks a --json document against its kind's schema; returns the problems (empty when valid). Used by the
 * tests on every --json output; ajv is loaded only here, never on a command's path.
 */
export async function checkResult(doc: unknown): Promise<string[]> {
  const record = doc as {kind?: unknown; ok?: unknown}
  // An error document has no kind; a failed verify (ok: false) keeps its own.
  const kind = (record?.ok === false && record?.kind === undefined ? 'error' : record?.kind) as ResultKind
  if (!RESULT_KINDS.includes(kind)) return [`unknown result kind ${JSON.stringify(record?.kind)}`]
  let validate = validators.get(kind)
  if (!validate) {
    const {Ajv2020} = await import('ajv/dist/2020.js')
    validate = new Ajv2020({allErrors: true, strict: true}).compile(resultSchema(kind)) as Validator
    validators.set(kind, validate)
  }
  if (validate(doc)) return []
  return (validate.errors ?? []).map((e) => `${kind}${e.instancePath || ''}: ${e.message ?? 'invalid'}`)
}
