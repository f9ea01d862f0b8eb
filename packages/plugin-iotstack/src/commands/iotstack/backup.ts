import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {BkCommand, dryRunFlag, formatBytes, hookFlags, locationFlag, offsiteFlags, retentionFlags} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {backupStack, planBackup, upcomingName} from '../../backup.js'
import {shown} from '../../display.js'
import {stackStore} from '../../list.js'
import {recoverStack} from '../../recover.js'
import {stackPaths} from '../../stack.js'

export default class Backup extends BkCommand<typeof Backup> {
  static override summary = "Back up an IOTstack folder with IOTstack's names: dated, rolling or both, .env included."
  static override description =
    `Writes backups/backup/backup_YYYY-MM-DD_HHMM.tar.gz and/or backups/rolling/backup_<1-7>.tar.gz (date +%u, local time) and a log in backups/logs/, like IOTstack's backup.sh, but with everything needed to bring the stack back: docker-compose.yml, docker-compose.override.yml, compose-override.yml, .env, services/, volumes/, extra/, postbuild.sh and the hook scripts. Owners, modes and symlinks are kept; archives are 0600 plain tar.gz (IOTstack's restore reads them) with a <archive>.bk.json manifest beside them. pre_backup.sh and post_backup.sh run at IOTstack's points. By default the stack keeps running: databases in containers need --dump-databases (or --stop) for a consistent copy. Any failure exits non-zero.`
  static override examples = [
    '<%= config.bin %> iotstack backup ~/IOTstack',
    '<%= config.bin %> iotstack backup --type dated --keep 14 --dump-databases',
    'cd ~/IOTstack && <%= config.bin %> iotstack backup -q   # cron',
    'sudo <%= config.bin %> iotstack backup --stop --user pi --copy-to restic:/mnt/usb/restic',
  ]
  static override args = {
    'stack-dir': Args.string({description: 'The IOTstack folder (default: the current folder).', default: '.'}),
  }
  static override flags = {
    type: Flags.string({
      description: 'dated (backups/backup/), rolling (backups/rolling/) or both, like backup.sh types 1, 2, 3.',
      options: ['dated', 'rolling', 'both'],
      default: 'both',
    }),
    ...dryRunFlag,
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
    user: Flags.string({description: 'When run as root: give the archives and log to this user.'}),
    stop: Flags.boolean({description: 'docker compose down before the copy and up -d after it (as IOTstack does).'}),
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
    const stack = args['stack-dir']
    const options = {
      type: flags.type as 'dated' | 'rolling' | 'both',
      location: flags.location,
      user: flags.user,
      stop: flags.stop,
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
          if (result.liveCopy === true) {
            context.note(
              'the stack kept running: databases in containers need --dump-databases or --stop for a consistent copy',
            )
          } else if (result.liveCopy === 'unknown') {
            context.note(
              'bk left the stack as it was: if it runs, databases in containers need --dump-databases or --stop for a consistent copy',
            )
          }
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
