import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {retentionFlags} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag, locationFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {offsiteFlags} from '@bkcli/core/offsite'
import {hookFlags} from '@bkcli/core/process'
import {formatBytes} from '@bkcli/core/ui'
import {backupStack, planBackup, upcomingName} from '../../backup.js'
import {backupWords} from '../../command-line.js'
import {shown} from '../../display.js'
import {stackStore} from '../../list.js'
import {recoverStack} from '../../recover.js'
import {stackPaths} from '../../stack.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = "Back up an IOTstack folder with IOTstack's names: dated, rolling or both, .env included."
  static override description =
    `Writes backups/backup/backup_YYYY-MM-DD_HHMM.tar.gz and/or backups/rolling/backup_<1-7>.tar.gz (date +%u, local time) and a log in backups/logs/, like IOTstack's backup.sh, but with everything needed to bring the stack back: docker-compose.yml, docker-compose.override.yml, compose-override.yml, .env, services/, volumes/, extra/, postbuild.sh and the hook scripts. Owners, modes and symlinks are kept; archives are 0600 plain tar.gz (IOTstack's restore reads them) with a <archive>.bk.json manifest beside them. pre_backup.sh and post_backup.sh run at IOTstack's points. As IOTstack's backup.sh, a running stack is brought down (docker compose down) for the copy and up again afterwards (up -d), also when the backup fails or is interrupted (SIGINT/SIGTERM; after a SIGKILL the next bk run brings it up). --live copies it running: then --dump-databases gives the databases a consistent copy. Any failure exits non-zero.`
  static override examples = [
    '<%= config.bin %> iotstack backup ~/IOTstack',
    "cd ~/IOTstack && sudo <%= config.bin %> iotstack backup 3 pi   # IOTstack's ./scripts/backup.sh 3 pi",
    '<%= config.bin %> iotstack backup --type dated --keep 14',
    '<%= config.bin %> iotstack backup --live --dump-databases   # no downtime; databases dumped first',
    'cd ~/IOTstack && <%= config.bin %> iotstack backup -q   # cron',
    'sudo <%= config.bin %> iotstack backup --user pi --copy-to restic:/mnt/usb/restic',
  ]
  static override args = {
    'stack-dir': Args.string({
      description:
        "The IOTstack folder (default: the current folder); or IOTstack's backup type 1 (dated), 2 (rolling), 3 (both), as in backup.sh 3 pi.",
    }),
    user: Args.string({description: "After a backup type: IOTstack's USER, like --user (used only when run as root)."}),
  }
  static override flags = {
    type: Flags.string({
      description:
        'dated (backups/backup/), rolling (backups/rolling/) or both (the default), like backup.sh types 1, 2, 3.',
      options: ['dated', 'rolling', 'both'],
    }),
    ...dryRunFlag,
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
    user: Flags.string({description: 'When run as root: give the archives and log to this user.'}),
    stop: Flags.boolean({
      description:
        'The default, asked by name: docker compose down before the copy, up -d after it (as IOTstack does); fails when Docker Compose is missing.',
      exclusive: ['live'],
    }),
    live: Flags.boolean({
      description:
        'Copy the stack while it runs (no down/up); warns, even with --quiet, when no --dump-databases covers its databases.',
    }),
    'dump-databases': Flags.boolean({
      description:
        'Dump MariaDB/PostgreSQL/InfluxDB services through docker compose exec into their backup folder first.',
    }),
    zstd: Flags.boolean({
      description:
        "Compress with zstd (.tar.zst): many times faster than gzip, but IOTstack's restore.sh cannot read it.",
    }),
    ...retentionFlags,
    ...offsiteFlags,
    ...hookFlags,
  }

  async run() {
    const {args, flags} = this
    const words = backupWords(args['stack-dir'], args.user, flags)
    for (const note of words.notes) this.note(note)
    const stack = words.stack
    const options = {
      type: words.type,
      location: flags.location,
      user: words.user,
      stop: flags.stop,
      live: flags.live,
      compression: flags.zstd ? ('zstd' as const) : ('gzip' as const),
      dumpDatabases: flags['dump-databases'],
      now: new Date(),
      onStep: (text: string) => this.info(text),
    }
    const paths = stackPaths(stack, flags.location)
    const upcoming = await upcomingName(stack, options)
    const offsite = this.offsite(
      async () => stackStore(stack, flags.location),
      existsSync(join(paths.dir, '.env')) ? '.env (passwords)' : undefined,
    )
    // The dated archive (else the rolling one) goes off-site, not both: they are the same bytes.
    if (offsite) offsite.pick = (made) => made.slice(0, 1)
    return this.execute(
      {
        kind: 'backup',
        plan: () => planBackup(stack, options),
        locks: [paths.dir, paths.backups],
        recover: () => recoverStack(paths),
        hooks: {env: {BK_TARGET: paths.dir}, cwd: paths.dir},
        offsite,
        retention: this.retention(
          async () => stackStore(stack, flags.location),
          () =>
            upcoming
              ? {name: upcoming, path: upcoming, kind: 'dated', group: 'dated', date: options.now, bytes: 0}
              : undefined,
        ),
        act: async (_plan, context) => {
          const result = await backupStack(stack, {...options, onStep: (text) => context.info(text)})
          for (const w of result.warnings) context.note(w)
          if (result.liveWarning) context.warn(result.liveWarning)
          return {...result, artifacts: result.archives.map((a) => ({path: a.path, bytes: a.bytes, kind: a.kind}))}
        },
      },
      (r) => [
        ...r.archives.map(
          (a) =>
            `Wrote ${shown(a.path)} (${formatBytes(a.bytes)}, ${r.entries} entries${a.overwritten ? ', replaced the previous one' : ''})`,
        ),
        `Members: ${r.members.join(', ')}${r.includesEnv ? '' : ' (no .env in the stack)'}`,
        ...r.dumps.map((d) => `Dumped ${d.service} (${d.engine}) to ${d.file} (${formatBytes(d.bytes)})`),
        ...(r.stopped ? ['The stack was brought down for the copy and up again.'] : []),
        `Log: ${shown(r.log)}`,
      ],
    )
  }
}
