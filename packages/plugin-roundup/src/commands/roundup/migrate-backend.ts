import {BkCommand} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'
import {migrateBackend} from '../../migrate.js'

export default class MigrateBackend extends BkCommand<typeof MigrateBackend> {
  static override summary = 'Move a tracker to another backend (sqlite, postgresql, mysql), verified, natively.'
  static override description =
    'The admin guide\'s "Migrating Backends" in one command: one consistent read of the source, a copy of the home ' +
    'with config.ini pointed at the new backend, the target schema created as Roundup creates it, rows, ' +
    'multilinks, journals (date and boolean params re-encoded), id counters, the schema row and the native ' +
    'full-text index copied table by table, then both trackers exported and compared. Then the new home is ' +
    'swapped in and the old one kept as <home>.old — or, with --no-swap, the new home is left beside it. ' +
    'The target database must be new or empty; the source is never written.'
  static override examples = [
    '<%= config.bin %> roundup migrate-backend /srv/tracker --to postgresql --url postgresql://roundup@db/tracker',
    '<%= config.bin %> roundup migrate-backend /srv/tracker --to sqlite --no-swap',
  ]
  static override args = {home: Args.string({description: 'tracker home', required: true})}
  static override flags = {
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
    if (!flags['no-swap']) {
      await this.confirmOrAbort(
        `Swap ${args.home} for its migrated copy (the old one kept as ${args.home}.old)?`,
        'swap the tracker home',
      )
    }
    const result = await migrateBackend(args.home, {
      to: flags.to as 'sqlite' | 'postgresql' | 'mysql',
      url: flags.url,
      passwordFile: flags['password-file'],
      noSwap: flags['no-swap'],
      newHome: flags['new-home'],
      onStep: (s) => this.info(`… ${s}`),
    })
    for (const n of result.notes) this.note(n)
    return this.report(result, (r) => [
      ...r.classes.map((c) => `${c.name}: ${c.items} items, ${c.journals} journal entries`),
      `Migrated ${r.home} from ${r.from} to ${r.to} (${r.database}); verified by comparing ${r.verified.files} exported files.`,
      r.oldHome
        ? `The new home is ${r.newHome}; the old one is kept as ${r.oldHome}.`
        : `The new home is ${r.newHome}; ${r.home} is unchanged.`,
    ])
  }
}
