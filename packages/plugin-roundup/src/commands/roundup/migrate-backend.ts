import {resolve} from 'node:path'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {
  finishedSwap,
  finishSwapPlan,
  type MigrateOptions,
  migrateBackend,
  migratePlan,
  migrateTarget,
  recoverMigrate,
  swapPending,
} from '../../migrate.js'

export default class MigrateBackend extends BkCommand<typeof MigrateBackend> {
  static override summary = 'Move a tracker to another backend (sqlite, postgresql, mysql), verified, natively.'
  static override description =
    'The admin guide\'s "Migrating Backends" in one command: one consistent read of the source, a copy of the home ' +
    '(db/files included, copied: the old home must not change whatever is done to the new one) with config.ini ' +
    'pointed at the new backend, the target schema created as Roundup creates it, rows, ' +
    'multilinks, journals (date and boolean params re-encoded), id counters, the schema row and the native ' +
    'full-text index copied table by table, then both trackers exported and compared. Then the new home is ' +
    'swapped in at one commit point and the old one kept as <home>.old-YYYY-MM-DD_HHMMSS (UTC, never overwritten) — or, with --no-swap, the new home is left beside it. ' +
    'The target database must be new or empty; the source is never written.'
  static override examples = [
    '<%= config.bin %> roundup migrate-backend /srv/tracker --to postgresql --url postgresql://roundup@db/tracker',
    '<%= config.bin %> roundup migrate-backend /srv/tracker --to sqlite --no-swap',
  ]
  static override args = {home: Args.string({description: 'tracker home', required: true})}
  static override flags = {
    ...dryRunFlag,
    to: Flags.string({description: 'the new backend', options: ['sqlite', 'postgresql', 'mysql'], required: true}),
    url: Flags.string({description: 'target database URL (no password: it stays in config.ini)'}),
    'password-file': Flags.string({
      description: 'file holding the target database password (config.ini will name it as file://)',
    }),
    'no-swap': Flags.boolean({description: 'leave the new home beside the old one instead of swapping'}),
    'new-home': Flags.string({description: 'where the new home goes with --no-swap (default <home>-<backend>)'}),
  }

  async run() {
    const {args, flags} = this
    const options: MigrateOptions = {
      to: flags.to as MigrateOptions['to'],
      url: flags.url,
      passwordFile: flags['password-file'],
      noSwap: flags['no-swap'],
      newHome: flags['new-home'],
      onStep: (s) => this.info(`… ${s}`),
    }
    // killed inside its swap, the last run left the home possibly at its kept name: finish that first (checking the
    // home as a source would refuse it as missing, or as already on the new backend, and never recover it)
    if (swapPending(args.home)) return this.finishSwap(args.home, options.to)
    const {home, finalHome} = await migrateTarget(args.home, options)
    return this.execute(
      {
        kind: 'restore',
        plan: () => migratePlan(args.home, options),
        confirm: () =>
          flags['no-swap']
            ? undefined
            : {question: `Swap ${home} for its migrated copy (the old one kept)?`, action: 'swap the tracker home'},
        locks: flags['no-swap'] ? [home, finalHome] : [home],
        recover: () => recoverMigrate(home),
        act: async (_plan, context) => {
          const r = await migrateBackend(args.home, options)
          for (const n of r.notes) context.note(n)
          return {source: r.home, target: r.newHome, ...(r.oldHome ? {kept: [r.oldHome]} : {}), ...r}
        },
      },
      (r) => [
        ...r.classes.map((c) => `${c.name}: ${c.items} items, ${c.journals} journal entries`),
        `Migrated ${r.home} from ${r.from} to ${r.to} (${r.database}); verified by comparing ${r.verified.files} exported files.`,
        r.oldHome
          ? `The new home is ${r.newHome}; the old one is kept as ${r.oldHome}.`
          : `The new home is ${r.newHome}; ${r.home} is unchanged.`,
      ],
    )
  }

  private async finishSwap(homeArg: string, to: MigrateOptions['to']) {
    const home = resolve(homeArg)
    return this.execute(
      {
        kind: 'restore',
        plan: async () => finishSwapPlan(home),
        confirm: () => ({question: `Finish swapping ${home} for the copy a killed run staged?`, action: 'swap'}),
        locks: [home],
        recover: () => recoverMigrate(home),
        act: async () => ({source: home, target: home, ...(await finishedSwap(home))}),
      },
      (r) =>
        r.backend === to
          ? `Finished the migration a killed run left: ${r.home} uses ${r.backend} (${r.database}).`
          : `Finished the swap a killed run left: ${r.home} uses ${r.backend} (${r.database}); run the command again to migrate it to ${to}.`,
    )
  }
}
