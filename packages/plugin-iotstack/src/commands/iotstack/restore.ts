import {BkCommand, dryRunFlag, locationFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {hookFlags} from '@bkcli/core/process'
import {restoreWords} from '../../command-line.js'
import {shown} from '../../display.js'
import {recoverStack} from '../../recover.js'
import {StackRestore} from '../../restore.js'

export default class Restore extends BkCommand<typeof Restore> {
  static override summary =
    'Restore an IOTstack backup into the stack folder: checked first, atomic, with a safety copy.'
  static override description =
    `A bare name is looked up under <stack>/backups/ like IOTstack's restore.sh (also in its backup/ and rolling/ folders). The whole archive is read and checked before anything changes; it is extracted beside the stack; a running stack is brought down (docker compose down); the current files are archived into backups/pre-restore/; the restored members replace the current ones in one step, so an interrupted restore leaves the old files or the new ones. .env, docker-compose.override.yml, extra/ and post_restore.sh are kept when the archive lacks them (IOTstack's own archives never hold them). backups/ and its logs are never touched. post_restore.sh runs afterwards. Archives made by IOTstack's backup.sh restore too.`
  static override examples = [
    '<%= config.bin %> iotstack restore backup/backup_2026-11-21_2219.tar.gz ~/IOTstack --yes --start',
    '<%= config.bin %> iotstack restore backup_6.tar.gz --restore-databases --start',
    "cd ~/IOTstack && <%= config.bin %> iotstack restore backup/backup_2026-11-21_2219.tar.gz noask   # IOTstack's restore.sh FILE noask",
  ]
  static override args = {
    archive: Args.string({description: 'Archive path, or a name under <stack>/backups/.', required: true}),
    'stack-dir': Args.string({
      description:
        "The IOTstack folder (default: the current folder); or IOTstack's noask: restore into it without asking.",
    }),
  }
  static override flags = {
    ...dryRunFlag,
    ...hookFlags,
    location: locationFlag('the backups folder (default <stack>/backups).', {aliases: ['backups-dir']}),
    start: Flags.boolean({description: 'docker compose up -d afterwards.'}),
    'restore-databases': Flags.boolean({
      description: 'Load the dumps taken by backup --dump-databases back into their services.',
    }),
  }

  async run() {
    const {args, flags} = this
    const words = restoreWords(args['stack-dir'])
    const restore = await StackRestore.open(args.archive, words.stack, {
      location: flags.location,
      start: flags.start,
      restoreDatabases: flags['restore-databases'],
      onStep: (text) => this.info(text),
      // Nothing between the plan and the act (no question, no hook): one read of the archive, every check made on
      // its way into the folder beside the stack. A dry run, a question or a hook: the whole archive is read first,
      // so a refused archive never reaches a hook.
      checkFirst:
        flags['dry-run'] ||
        !(flags.yes || words.noask) ||
        (flags['pre-command'] ?? []).length > 0 ||
        (flags['post-command'] ?? []).length > 0,
    })
    const {paths} = restore
    return this.execute(
      {
        kind: 'restore',
        plan: () => restore.plan(),
        confirm: () =>
          words.noask
            ? undefined
            : {
                question: `Replace the stack's files in ${paths.dir} with ${restore.archive}?`,
                action: `restore over ${paths.dir}`,
              },
        locks: [paths.dir, paths.backups],
        recover: () => recoverStack(paths),
        hooks: {env: {BK_TARGET: paths.dir}},
        act: async (_plan, context) => {
          const result = await restore.run()
          for (const w of result.warnings) context.note(w)
          return result
        },
      },
      (r) => [
        `Restored ${r.restored.join(', ')} from ${shown(r.archive)} (${r.madeBy === 'bk' ? 'bk' : 'IOTstack'} archive, ${r.entries} entries) into ${r.stack}`,
        ...(r.keptMembers.length > 0 ? [`Left as they were (not in the archive): ${r.keptMembers.join(', ')}`] : []),
        ...(r.removed.length > 0 ? [`Removed (not in the archive): ${r.removed.join(', ')}`] : []),
        ...(r.previous ? [`The replaced files are kept in ${shown(r.previous)}`] : []),
        ...(r.safetyArchive ? [`Safety copy of the previous files: ${shown(r.safetyArchive)}`] : []),
        ...(r.postRestoreHook ? ['post_restore.sh ran.'] : []),
        ...r.databases.map((d) => `Loaded ${d.file} into ${d.service}`),
        ...(r.stoppedStack && !r.started
          ? ['The stack was brought down and is still down: start it with docker compose up -d (or --start).']
          : []),
        ...(r.started ? ['The stack is up again.'] : []),
      ],
    )
  }
}
