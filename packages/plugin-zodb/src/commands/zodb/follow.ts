import {resolve} from 'node:path'
import {BkCommand, dryRunFlag, locationFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {Args, Flags} from '@bkcli/core/oclif'
import {onStopRequest} from '@bkcli/core/safety'
import {Follower, type FollowResult, type Shipment} from '../../follow/follower.js'
import {followStatus, statusText} from '../../follow/status.js'
import {systemdUnit} from '../../follow/unit.js'

export default class Follow extends BkCommand<typeof Follow> {
  static override summary = 'Continuous backup: ship every committed transaction of a live Data.fs within a second.'
  static override description =
    `Tails a Data.fs written by a running Zope/ZEO and writes a repozo repository: a full backup first,
then one incremental (.deltafs, its .index and its .dat line) per --interval holding the transactions committed
meanwhile, so \`repozo -R\` and \`bk zodb restore\` restore it to any shipped point. Only complete, committed
transactions are shipped, each record checked; a pack (the file replaced, shorter, or rewritten) starts a new
full backup. SIGTERM/SIGINT stops cleanly (what is complete is shipped, nothing torn is left); the next start
resumes after the last shipped file once its .dat checksum matches the Data.fs. With --blob-storage, the blobs
of each shipment go into --blob-location before its .dat line (hard links where the file system allows).`
  static override examples = [
    '<%= config.bin %> <%= command.id %> var/filestorage/Data.fs --location /backups/plone',
    '<%= config.bin %> <%= command.id %> var/filestorage/Data.fs --location /backups/plone --json',
    '<%= config.bin %> <%= command.id %> var/filestorage/Data.fs --location /backups/plone --status',
    '<%= config.bin %> <%= command.id %> /srv/plone/var/filestorage/Data.fs --location /backups/plone --print-unit > /etc/systemd/system/bk-follow.service',
  ]
  static override args = {
    datafs: Args.string({description: 'The live Data.fs to follow (optional with --status).'}),
  }
  static override flags = {
    ...dryRunFlag,
    location: locationFlag('the repozo repository to ship into (created when missing).', {required: true}),
    interval: Flags.string({
      description: 'Seconds between shipments; transactions committed meanwhile go into one incremental.',
      default: '1',
    }),
    gzip: Flags.boolean({description: 'Write .fsz/.deltafsz (gzip) instead of .fs/.deltafs.'}),
    'blob-storage': Flags.string({
      description:
        'The live blob storage: the blobs of every shipped transaction go into --blob-location first (hard links where the file system allows), in a blob backup per chain, <base>.<chain stamp>/<base>/…',
      dependsOn: ['blob-location'],
    }),
    'blob-location': Flags.string({
      description: 'Where the blobs are shipped (restore with --blob-backup-location pointing there).',
      dependsOn: ['blob-storage'],
    }),
    status: Flags.boolean({
      description: 'Read the location (and the Data.fs when given): the last shipped transaction and how far behind.',
      exclusive: ['print-unit'],
    }),
    'print-unit': Flags.boolean({description: 'Print a systemd service unit running this follower, and exit.'}),
  }

  async run() {
    const {args, flags} = this
    if (!flags.location) throw new BkError('give the repozo repository with --location')
    const location = resolve(flags.location)
    if (flags.status) {
      const status = await followStatus(location, args.datafs ? resolve(args.datafs) : undefined)
      return this.report(status, statusText, 'operation')
    }
    if (!args.datafs) throw new BkError('give the Data.fs to follow (e.g. var/filestorage/Data.fs)')
    const datafs = resolve(args.datafs)
    const interval = Number(flags.interval)
    if (!Number.isFinite(interval) || interval <= 0) {
      throw new BkError(`--interval must be a positive number of seconds, not '${flags.interval}'`)
    }
    if (flags['print-unit']) {
      const argv = [
        process.execPath,
        resolve(process.argv[1] ?? 'bk'),
        'zodb',
        'follow',
        datafs,
        '--location',
        location,
      ]
      if (flags.interval !== '1') argv.push('--interval', String(interval))
      if (flags.gzip) argv.push('--gzip')
      if (flags['blob-storage']) {
        argv.push('--blob-storage', resolve(flags['blob-storage']), '--blob-location', resolve(flags['blob-location']!))
      }
      argv.push('--quiet')
      const unit = systemdUnit({argv, datafs, location})
      if (flags.json) return this.report({unit}, () => unit, 'operation')
      process.stdout.write(unit)
      return {unit}
    }
    const follower = new Follower(
      datafs,
      {
        location,
        interval,
        gzip: flags.gzip,
        blobStorage: flags['blob-storage'] ? resolve(flags['blob-storage']) : undefined,
        blobLocation: flags['blob-location'] ? resolve(flags['blob-location']) : undefined,
      },
      {
        info: (m) => this.info(m),
        note: (m) => this.note(m),
        shipped: (s) => this.shipped(s),
      },
    )
    // registered now, so a stop while planning or recovering is clean too; a second signal exits at once
    const unregister = onStopRequest((signal) => follower.stop(signal))
    try {
      return await this.execute(
        {
          kind: 'operation',
          plan: () => follower.plan(),
          locks: flags['blob-location'] ? [location, resolve(flags['blob-location'])] : [location],
          recover: () => follower.recover(),
          act: () => follower.run(),
        },
        (r: FollowResult) => [
          `Stopped (${r.stoppedBy}): ${r.shipments} shipment(s), ${r.fulls} full, ${r.bytes} bytes; ${r.location} holds ${r.datafs} up to byte ${r.end}${r.lastTransaction ? ` (transaction of ${r.lastTransaction})` : ''}.`,
        ],
      )
    } finally {
      unregister()
    }
  }

  /** One line per shipment: JSON under --json (stdout), else a sentence. */
  private shipped(s: Shipment): void {
    if (this.flags.json) {
      const line = {
        shipped: s.tid,
        time: s.time,
        bytes: s.bytes,
        lagMs: s.lagMs,
        kind: s.kind,
        file: s.file,
        transactions: s.transactions,
        end: s.end,
      }
      process.stdout.write(`${JSON.stringify(line)}\n`)
      return
    }
    this.info(
      `shipped ${s.transactions} transaction(s), ${s.bytes} bytes, to ${s.file} (${s.kind}${s.reason ? `: ${s.reason}` : ''}); lag ${s.lagMs} ms`,
    )
  }

  /** --json: every document on one line, so stdout stays one JSON object per line (shipments, then the result). */
  protected override report<R>(
    result: R,
    text: (result: R) => string | string[],
    kind?: Parameters<BkCommand<typeof Follow>['report']>[2],
  ): R {
    if (!this.flags.json || this.flags.status) return super.report(result, text, kind)
    const doc = {kind: kind ?? 'operation', app: this.app, command: this.commandName, dryRun: false, ...result}
    process.stdout.write(`${JSON.stringify(doc)}\n`)
    return result
  }
}
