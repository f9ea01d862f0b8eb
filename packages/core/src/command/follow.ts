import {resolve} from 'node:path'
import {type Command, Flags} from '@bkcli/core/oclif'
import {BkError} from '../errors.js'
import type {FollowedFolder} from '../follow/sqlite/files.js'
import type {SqliteFollowResult, SqliteFollowTarget, SqliteShipment} from '../follow/sqlite/follower.js'
import {onStopRequest} from '../safety/interrupt.js'
import {BkCommand} from './base.js'
import {dryRunFlag, locationFlag} from './flags.js'

/**
 * `bk <app> follow` for an application on SQLite (Trac, Roundup): a Litestream-style follower of its database
 * (and folders of files) into a location, with `--status`, `--verify` and `--print-unit`. The plugin names the
 * database and the folders (`target()`); everything else is here, once.
 */
export abstract class SqliteFollowCommand<T extends typeof Command> extends BkCommand<T> {
  /** The flags every SQLite follow takes; `static flags = {...SqliteFollowCommand.followFlags}`. */
  static followFlags = {
    ...dryRunFlag,
    location: locationFlag('the follow location to ship into (created when missing).', {required: true}),
    interval: Flags.string({description: 'Seconds between polls of the WAL.', default: '0.1'}),
    'snapshot-interval': Flags.string({
      description: 'Seconds between snapshots (each restore replays the WAL from the newest snapshot before it).',
      default: '86400',
    }),
    'checkpoint-frames': Flags.integer({
      description: 'WAL frames after which the follower checkpoints the WAL itself (so it restarts, not grows).',
      default: 1000,
    }),
    'keep-generations': Flags.integer({
      description:
        'Keep only the newest N generations: older ones are removed (renamed aside, then deleted) whenever a new generation starts and at start; the current one always stays. Default: keep all.',
      min: 1,
    }),
    status: Flags.boolean({
      description: 'Read the location: generations, the last shipped commit and how long ago; change nothing.',
      exclusive: ['print-unit', 'verify'],
    }),
    verify: Flags.boolean({
      description: 'Check every shipped file against its manifest (sha256, WAL checksum chain); change nothing.',
      exclusive: ['print-unit'],
    }),
    'print-unit': Flags.boolean({description: 'Print a systemd service unit running this follower, and exit.'}),
  }

  /** The database and folders of the application named by the arguments. */
  protected abstract target(): Promise<SqliteFollowTarget>
  /** The names under <location>/files of the folders this application follows (for --status/--verify). */
  protected abstract folderNames(): string[]

  private seconds(name: string): number {
    const raw = (this.flags as Record<string, unknown>)[name] as string
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0) throw new BkError(`--${name} must be a positive number of seconds, not '${raw}'`)
    return n
  }

  async run() {
    const flags = this.flags as Record<string, unknown>
    if (!flags.location) throw new BkError('give the follow location with --location')
    const location = resolve(flags.location as string)
    // the follower's modules load when a follow runs, not with every command that imports '@bkcli/core/command'
    const {sqliteFollowStatus, sqliteFollowStatusText, verifySqliteFollow} = await import('../follow/sqlite/status.js')
    if (flags.status) {
      const status = await sqliteFollowStatus(location, this.folderNames())
      return this.report(status, sqliteFollowStatusText, 'operation')
    }
    if (flags.verify) {
      const result = await verifySqliteFollow(location, this.folderNames())
      this.report(
        result,
        (r) => [
          `${r.ok ? 'OK' : 'FAILED'}: ${r.artifact} (${r.checked} checked)`,
          ...r.problems.map((p) => `  problem: ${p}`),
        ],
        'verify',
      )
      if (!result.ok) {
        process.stderr.write(`${this.config.bin}: ${location} failed verification: ${result.problems[0]}\n`)
        this.exit(1)
      }
      return result
    }
    const target = await this.target()
    const interval = this.seconds('interval')
    const snapshotInterval = this.seconds('snapshot-interval')
    if (flags['print-unit']) {
      const argv = [
        process.execPath,
        resolve(process.argv[1] ?? 'bk'),
        ...this.id!.split(':'),
        ...this.positionals.map((p) => resolve(p)),
      ]
      argv.push('--location', location)
      if (flags.interval !== '0.1') argv.push('--interval', String(interval))
      if (flags['snapshot-interval'] !== '86400') argv.push('--snapshot-interval', String(snapshotInterval))
      if (flags['checkpoint-frames'] !== 1000) argv.push('--checkpoint-frames', String(flags['checkpoint-frames']))
      if (flags['keep-generations'] !== undefined) argv.push('--keep-generations', String(flags['keep-generations']))
      argv.push('--quiet')
      const {followUnit} = await import('../follow/unit.js')
      const unit = followUnit({
        argv,
        description: `bk ${target.app} follow: continuous backup of ${target.db} into ${location}`,
      })
      if (flags.json) return this.report({unit}, () => unit, 'operation')
      process.stdout.write(unit)
      return {unit}
    }
    const {SqliteFollower} = await import('../follow/sqlite/follower.js')
    const follower = new SqliteFollower(
      target,
      {
        location,
        pollMs: interval * 1000,
        snapshotInterval,
        checkpointFrames: flags['checkpoint-frames'] as number,
        keepGenerations: flags['keep-generations'] as number | undefined,
      },
      {info: (m) => this.info(m), note: (m) => this.note(m), shipped: (s) => this.shipped(s)},
    )
    const unregister = onStopRequest((signal) => follower.stop(signal))
    try {
      return await this.execute(
        {
          kind: 'operation',
          plan: () => follower.plan(),
          locks: [location],
          recover: () => follower.recover(),
          act: () => follower.run(),
        },
        (r: SqliteFollowResult) => [
          `Stopped (${r.stoppedBy}): ${r.shipments} WAL segment(s) with ${r.commits} commit(s), ${r.snapshots} snapshot(s), ${r.files} file change(s), ${r.bytes} bytes; generation ${r.generation ?? '-'}${r.lastCommit ? `, last commit seen ${r.lastCommit}` : ''}.`,
        ],
      )
    } finally {
      unregister()
    }
  }

  /** One line per shipment: JSON under --json (stdout), else a sentence. */
  private shipped(s: SqliteShipment): void {
    if ((this.flags as Record<string, unknown>).json) {
      process.stdout.write(`${JSON.stringify({shipped: s.kind, ...s})}\n`)
      return
    }
    this.info(
      `shipped ${s.kind} ${s.file}: ${s.commits} commit(s)/file(s), ${s.bytes} bytes${s.reason ? ` (${s.reason})` : ''}; lag ${s.lagMs} ms`,
    )
  }

  /** --json: every document on one line, so stdout stays one JSON object per line (shipments, then the result). */
  protected override report<R>(
    result: R,
    text: (result: R) => string | string[],
    kind?: Parameters<BkCommand<T>['report']>[2],
  ): R {
    const flags = this.flags as Record<string, unknown>
    if (!flags.json || flags.status || flags.verify || flags['print-unit']) return super.report(result, text, kind)
    const doc = {kind: kind ?? 'operation', app: this.app, command: this.commandName, dryRun: false, ...result}
    process.stdout.write(`${JSON.stringify(doc)}\n`)
    return result
  }
}

export type {FollowedFolder}
