import {stat} from 'node:fs/promises'
import {Command, Flags, type Interfaces} from '@bkcli/core/oclif'
import {hasRetention, type RetentionFlagValues, retentionFromFlags} from '../catalog/flags.js'
import {CONFIG_ONLY_KEYS, configToArgv, type FlagShape, normalizeBooleanArgv} from '../config/flags.js'
import {type ConfigSections, type LoadedConfig, loadConfigFile} from '../config/load.js'
import {BkError, isBkError, messageOf} from '../errors.js'
import type {OffsiteSettings} from '../offsite/copy.js'
import {createProgress, type Progress, type ProgressMode, setProgressOutput} from '../ui/progress.js'
import {confirm} from '../ui/prompt.js'
import {redact, redactText} from '../ui/redact.js'
import {setWarningOutput} from '../ui/warn.js'
import type {Artifact, ArtifactStore} from '../workflow/artifacts.js'
import {type Operation, type OperationContext, runOperation} from '../workflow/operation.js'
import type {Plan} from '../workflow/plan.js'
import {formatPlan} from '../workflow/plan.js'
import type {PruneOutcome} from '../workflow/prune.js'
import type {ResultKind} from '../workflow/results.js'
import {markQuiet, quietExit} from './quiet-exit.js'
import {systemErrorMessage} from './system-error.js'

/** The parsed flags of a command class, the shared base flags included. */
export type BkFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BkCommand)['baseFlags'] & T['flags']>
/** The parsed arguments of a command class. */
export type BkArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

type Parsed = Interfaces.ParserOutput

/**
 * The base of every bk command: the shared flags, bk.yml merging (flags win), one-line errors,
 * --json/--quiet rendering, confirmations and progress. Commands stay thin: parse, call one domain
 * function, `return this.report(result, text)`.
 */
export abstract class BkCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    json: Flags.boolean({description: 'Print one JSON document on stdout and nothing else.', helpGroup: 'GLOBAL'}),
    quiet: Flags.boolean({
      char: 'q',
      description: 'Print nothing unless something fails (for cron).',
      helpGroup: 'GLOBAL',
    }),
    yes: Flags.boolean({
      char: 'y',
      aliases: ['no-prompt'],
      description: 'Answer yes to confirmations (alias --no-prompt); required without a terminal.',
      helpGroup: 'GLOBAL',
    }),
    verbose: Flags.boolean({char: 'v', description: 'More detail; stack traces on errors.', helpGroup: 'GLOBAL'}),
    config: Flags.string({description: 'Config file (YAML); default ./bk.yml when present.', helpGroup: 'GLOBAL'}),
    progress: Flags.option({
      options: ['auto', 'json', 'none'] as const,
      default: 'auto' as const,
      description:
        'Progress of long steps on stderr: auto (a line per step with rate and ETA on a terminal), json (one JSON object per line), none.',
      helpGroup: 'GLOBAL',
    })(),
  }

  /** The kind of this command's result (its --json schema); commands run through execute() take the operation's. */
  static resultKind: ResultKind = 'operation'

  protected flags!: BkFlags<T>
  protected args!: BkArgs<T>
  /** Values of the config file that apply to this command (core section, then the plugin's), secrets included. */
  protected configValues: Record<string, unknown> = {}
  /** The config file as read (its path, jobs and alerts), when there is one. */
  protected loadedConfig?: LoadedConfig
  private parsedOutput?: Parsed

  public override async init(): Promise<void> {
    await super.init()
    const ctor = this.ctor as typeof BkCommand
    const input = {flags: ctor.flags, baseFlags: ctor.baseFlags, args: ctor.args, strict: ctor.strict}
    this.argv = normalizeBooleanArgv(this.argv, flagShapes({...ctor.baseFlags, ...ctor.flags}))
    const first = await super.parse(input, this.argv)
    const extra = await this.argvFromConfig(first)
    let parsed: Parsed = first
    if (extra.argv.length > 0) {
      try {
        parsed = await super.parse(input, [...extra.argv, ...this.argv])
      } catch (error) {
        throw new BkError(`${extra.file}: ${oneLine(messageOf(error))}`, {code: 'ECONFIG'})
      }
    }
    this.parsedOutput = parsed
    this.flags = parsed.flags as BkFlags<T>
    this.args = parsed.args as BkArgs<T>
    setProgressOutput(progressMode(parsed.flags as {progress?: string; quiet?: boolean; json?: boolean}))
    setWarningOutput((message) => this.note(message))
  }

  /** Commands may still call `this.parse(Cmd)`: they get the merged result computed in init(). */
  // biome-ignore lint/suspicious/noExplicitAny: matches oclif's generic signature
  protected override async parse(options?: any, argv?: string[]): Promise<any> {
    if (this.parsedOutput && argv === undefined) return this.parsedOutput
    return super.parse(options, argv)
  }

  /** The plugin's topic, which names its config section (`trac:`). */
  protected get topic(): string {
    return (this.id ?? '').split(':')[0] ?? ''
  }

  /** Who answers in --json: the plugin's topic, or 'bk' for the CLI's own commands (run, status …). */
  protected get app(): string {
    return (this.id ?? '').includes(':') ? this.topic : 'bk'
  }

  private async argvFromConfig(first: Parsed): Promise<{argv: string[]; file?: string}> {
    const flags = first.flags as {config?: string}
    const loaded = await loadConfigFile(flags.config)
    this.loadedConfig = loaded
    if (!loaded.file) return {argv: []}
    await loadEveryPlugin(this.config)
    const given = new Set(
      first.raw.filter((token) => token.type === 'flag').map((token) => (token as {flag: string}).flag),
    )
    const ctor = this.ctor as typeof BkCommand
    const commandFlags = flagShapes({...ctor.baseFlags, ...ctor.flags})
    const sections: ConfigSections = loaded.sections
    const argv: string[] = []
    const applied = new Set<string>()
    // The plugin's own section first, so that its values win over core's.
    for (const name of [this.topic, 'core']) {
      const values = sections[name]
      if (!values) continue
      const known = this.knownKeys(name === 'core' ? undefined : name)
      const tokens = configToArgv({
        file: loaded.file,
        section: name,
        values,
        known,
        commandFlags,
        given: new Set([...given, ...applied]),
      })
      for (const key of Object.keys(values)) {
        applied.add(key)
        if (!(key in this.configValues)) this.configValues[key] = values[key]
      }
      argv.push(...tokens)
    }
    const secrets = Object.keys(this.configValues).filter((key) => CONFIG_ONLY_KEYS.has(key))
    if (secrets.length > 0 && !(first.flags as {quiet?: boolean}).quiet) await warnIfShared(loaded.file, secrets)
    for (const name of Object.keys(sections)) {
      if (
        name !== 'core' &&
        name !== this.topic &&
        !this.config.topics.some((t) => t.name === name) &&
        !knownPluginSection(name)
      ) {
        throw new BkError(`${loaded.file}: unknown section '${name}' (expected core or a plugin name)`, {
          code: 'ECONFIG',
        })
      }
    }
    return {argv, file: loaded.file}
  }

  /** Every long-flag name of the commands of a topic (all commands for `core:`), so a shared bk.yml fits them all. */
  private knownKeys(topic?: string): Set<string> {
    const keys = new Set<string>()
    for (const command of this.config.commands) {
      if (topic && !command.id.startsWith(`${topic}:`)) continue
      for (const [name, flag] of Object.entries(command.flags ?? {})) {
        keys.add(name)
        for (const alias of (flag as {aliases?: string[]}).aliases ?? []) keys.add(alias)
      }
    }
    const ctor = this.ctor as typeof BkCommand
    for (const [name, flag] of Object.entries({...ctor.baseFlags, ...ctor.flags})) {
      keys.add(name)
      for (const alias of (flag as {aliases?: string[]}).aliases ?? []) keys.add(alias)
    }
    return keys
  }

  /** A secret from the config file (e.g. `db-password`); never accepted as a flag. */
  protected configSecret(key: string): string | undefined {
    const value = this.configValues[key]
    return value === undefined || value === null ? undefined : String(value)
  }

  /** The positional arguments as given (all of them, for commands with `strict = false`). */
  protected get positionals(): string[] {
    return ((this.parsedOutput?.argv ?? []) as unknown[]).map(String)
  }

  /** The command as typed after `bk`: 'trac backup'. */
  protected get commandName(): string {
    return (this.id ?? '').replaceAll(':', ' ')
  }

  /**
   * Prints the result: one JSON document with --json (core's envelope first: kind, app, command, dryRun), nothing
   * with --quiet, else the human text.
   */
  protected report<R>(result: R, text: (result: R) => string | string[], kind?: ResultKind): R {
    if (this.flags.json) {
      const envelope = {
        kind: kind ?? (this.ctor as unknown as typeof BkCommand).resultKind,
        app: this.app,
        command: this.commandName,
        dryRun: false,
      }
      const doc = result && typeof result === 'object' && !Array.isArray(result) ? {...envelope, ...result} : result
      process.stdout.write(`${JSON.stringify(redact(doc), null, 2)}\n`)
    } else if (!this.flags.quiet) {
      const lines = text(result)
      process.stdout.write(`${redactText(Array.isArray(lines) ? lines.join('\n') : lines)}\n`)
    }
    return result
  }

  /** Progress and narration: stdout normally, stderr under --json, nothing under --quiet. */
  protected info(message: string): void {
    if (this.flags?.quiet) return
    if (this.flags?.json) process.stderr.write(`${redactText(message)}\n`)
    else process.stdout.write(`${redactText(message)}\n`)
  }

  /** A warning on stderr (not under --quiet). */
  protected note(message: string): void {
    if (this.flags?.quiet) return
    process.stderr.write(`bk: warning: ${redactText(message)}\n`)
  }

  /** Asks before destroying something; --yes answers yes; no terminal and no --yes refuses. Declining aborts. */
  protected async confirmOrAbort(question: string, action: string): Promise<void> {
    const ok = await confirm(question, {assumeYes: Boolean(this.flags.yes), action})
    if (!ok) throw new BkError('aborted: nothing was changed', {exit: 1, code: 'EABORTED'})
  }

  /**
   * Runs a mutating command through core's workflow (see Operation): the plan is printed and nothing happens under
   * --dry-run; otherwise confirm, lock, recover, hooks, act, retention, and one result for text and --json.
   * `render` gives the human lines of a real run; a backup's pruned artifacts are listed after them.
   */
  protected async execute<R extends object>(
    op: Operation<R>,
    render: (result: R) => string | string[],
  ): Promise<R | {plan: unknown}> {
    const flags = this.flags as Record<string, unknown>
    const hooks = {
      pre: flags['pre-command'] as string[] | undefined,
      post: flags['post-command'] as string[] | undefined,
    }
    const outcome = await runOperation(op, {
      dryRun: Boolean(flags['dry-run']),
      operation: `${this.config.bin} ${this.commandName}`,
      confirm: (question, action) => this.confirmOrAbort(question, action),
      hooks,
      context: this.operationContext(),
    })
    if (outcome.dryRun) {
      const doc = {plan: outcome.plan}
      if (flags.json) {
        const envelope = {kind: 'plan', app: this.app, command: this.commandName, dryRun: true}
        process.stdout.write(`${JSON.stringify(redact({...envelope, ...doc}), null, 2)}\n`)
      } else if (!flags.quiet) {
        process.stdout.write(
          `${redactText([...formatPlan(outcome.plan), 'Nothing was changed (--dry-run).'].join('\n'))}\n`,
        )
      }
      return doc
    }
    const result = {
      ...outcome.result,
      ...(outcome.offsite ? {offsite: outcome.offsite} : {}),
      ...(outcome.pruned ? {pruned: outcome.pruned} : {}),
    } as R
    return this.report(
      result,
      (r) => {
        const lines = render(r)
        return [
          ...(Array.isArray(lines) ? lines : [lines]),
          ...(outcome.offsite ?? []).map(
            (c) =>
              `Copied ${c.artifacts.join(', ')} to ${c.target} (${c.tool}, ${c.encrypted ? 'encrypted' : 'not encrypted'})${c.removed.length ? `; retention removed ${c.removed.join(', ')} there` : ''}.`,
          ),
          ...prunedLines(outcome.pruned),
        ]
      },
      op.kind,
    )
  }

  /**
   * The retention of a backup command's flags (`...retentionFlags`), or undefined when no rule was given.
   * `upcoming` describes the artifact the run adds, so --dry-run shows what the real run would prune.
   */
  protected retention(
    store: () => Promise<ArtifactStore>,
    upcoming?: (plan: Plan) => Artifact | undefined,
  ): Operation<object>['retention'] {
    const policy = retentionFromFlags(this.flags as RetentionFlagValues)
    return hasRetention(policy) ? {policy, store, upcoming} : undefined
  }

  /**
   * The off-site copy of a backup command's flags (`...offsiteFlags`: --copy-to, --allow-unencrypted), or
   * undefined when no --copy-to was given. `store` is the location the backup writes to; `secrets` says what
   * secret the backup holds (an unencrypted target is then refused unless --allow-unencrypted).
   */
  protected offsite(store: () => Promise<ArtifactStore>, secrets?: string): OffsiteSettings | undefined {
    const flags = this.flags as {'copy-to'?: string[]; 'allow-unencrypted'?: boolean}
    const targets = flags['copy-to'] ?? []
    if (targets.length === 0) return undefined
    return {targets, allowUnencrypted: Boolean(flags['allow-unencrypted']), app: this.topic, store, secrets}
  }

  /** What an operation may use while it acts. */
  protected operationContext(): OperationContext {
    return {
      progress: (label, total) => this.progress(label, total),
      info: (message) => this.info(message),
      note: (message) => this.note(message),
      warn: (message) => process.stderr.write(`bk: warning: ${redactText(message)}\n`),
    }
  }

  /** A step of the command's own (the engine's steps report themselves); shown as --progress says. */
  protected progress(label: string, total?: number): Progress {
    return createProgress(label, {total, enabled: true})
  }

  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    // oclif's own exit (this.exit) passes through, printing nothing.
    const oclifExit = (error as unknown as {oclif?: {exit?: number}}).oclif?.exit
    if (oclifExit !== undefined && (error as unknown as {code?: string}).code === 'EEXIT') throw markQuiet(error)
    const verbose = this.flags?.verbose ?? this.argv.some((a) => a === '--verbose' || a === '-v')
    const json = this.flags?.json ?? this.argv.includes('--json')
    let exit = 1
    let message = messageOf(error)
    let code = 'EBK'
    const system = isBkError(error) ? undefined : systemErrorMessage(error)
    if (isBkError(error)) {
      exit = error.exit
      code = error.code
    } else if (system) {
      ;({code, message} = system)
    } else if (oclifExit !== undefined) {
      // oclif parse errors (unknown flag, missing argument): usage errors, exit 2.
      exit = oclifExit || 2
      code = 'EUSAGE'
      message = `${oneLine(message)} (see '${this.config.bin} ${(this.id ?? '').replaceAll(':', ' ')} --help')`
    } else if (!verbose) {
      message = `${message.split('\n')[0]} (run with --verbose for details)`
    }
    message = redactText(message.split('\n')[0] ?? message)
    process.stderr.write(`${this.config.bin}: ${message}\n`)
    if (verbose && error instanceof Error && error.stack && !isBkError(error)) {
      process.stderr.write(`${redactText(error.stack)}\n`)
    }
    if (json) process.stdout.write(`${JSON.stringify({ok: false, error: {code, message}}, null, 2)}\n`)
    return quietExit(this, exit)
  }
}

/** --progress=json always (stderr); otherwise a terminal line unless --quiet, --json or no terminal. */
function progressMode(flags: {progress?: string; quiet?: boolean; json?: boolean}): ProgressMode {
  if (flags.progress === 'json') return 'json'
  if (flags.progress === 'none' || flags.quiet || flags.json) return 'off'
  return process.stderr.isTTY ? 'tty' : 'off'
}

function prunedLines(pruned: PruneOutcome | undefined): string[] {
  if (!pruned) return []
  return [
    ...pruned.removed.map((r) => `Pruned ${r.path}`),
    `Retention: ${pruned.removed.length} removed, ${pruned.kept.length} kept.`,
  ]
}

/** A password in a config file that other users may read is as exposed as one on the command line. */
async function warnIfShared(file: string, keys: string[]): Promise<void> {
  const mode = (await stat(file).catch(() => undefined))?.mode ?? 0
  if ((mode & 0o077) === 0) return
  const what = keys.length === 1 ? 'a password' : 'passwords'
  process.stderr.write(
    `bk: warning: ${file} holds ${what} (${keys.join(', ')}) and other users may read it; run: chmod 600 ${file}\n`,
  )
}

/** oclif's parse errors span lines ("Parsing --keep\n\tExpected an integer…"): one line for the user. */
function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim()
}

function flagShapes(flags: Record<string, unknown>): Record<string, FlagShape> {
  const shapes: Record<string, FlagShape> = {}
  for (const [name, def] of Object.entries(flags)) {
    const flag = def as {type: 'boolean' | 'option'; multiple?: boolean; allowNo?: boolean; aliases?: string[]}
    shapes[name] = {type: flag.type, multiple: flag.multiple, allowNo: flag.allowNo, aliases: flag.aliases}
  }
  return shapes
}

const PLUGIN_SECTIONS = new Set(['trac', 'roundup', 'zodb', 'aegir', 'iotstack'])
/** Set by bk's bin/run.js on oclif's load options when it loaded only the command's plugin (its start-up fast path). */
const SOME_PLUGINS = Symbol.for('bkcli.somePlugins')
const completed = new WeakSet<object>()

/**
 * A config file is checked against every plugin's commands and topics (its sections and core keys): when bk started
 * with the command's plugin only, the others are loaded now, as oclif would have at start (loaded ones are skipped).
 */
async function loadEveryPlugin(config: Command['config']): Promise<void> {
  const options = config.options as object
  if (!(SOME_PLUGINS in options) || completed.has(config)) return
  completed.add(config)
  await config.loadPluginsAndCommands({force: true})
}

function knownPluginSection(name: string): boolean {
  return PLUGIN_SECTIONS.has(name)
}
