import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {sweepLeftovers} from '@bkcli/core/workflow'
import {importPlan, importTracker} from '../../import.js'
import {openTracker} from '../../tracker.js'

export default class Import extends BkCommand<typeof Import> {
  /** `importtables`: the same import without file contents */
  static tablesOnly = false
  static override summary = 'Import a roundup-admin export into a fresh, empty tracker database — all or nothing.'
  static override description =
    'Reads <class>.csv, <class>-journals.csv and <class>-files/ as `roundup-admin import` does, creates the tables ' +
    "exactly as Roundup creates them (sqlite, PostgreSQL or MySQL, from the home's config.ini and schema.py), and " +
    'keeps ids; id counters end at max id + 2 like roundup-admin. The database must not exist yet or be empty; ' +
    'on any failure it is removed again. The full-text index is filled as Roundup fills it ([main] indexer native or ' +
    'native-fts), so no `roundup-admin reindex` is needed.'
  static override examples = [
    '<%= config.bin %> roundup import /srv/new-tracker /tmp/tracker-export',
    '<%= config.bin %> roundup import /srv/new-tracker /tmp/tables --no-files',
  ]
  static override args = {
    home: Args.directory({description: 'tracker home to import into (config.ini + schema.py)', required: true}),
    dir: Args.directory({description: 'directory of a roundup-admin export', required: true, exists: true}),
  }
  static override flags = {
    ...dryRunFlag,
    'no-files': Flags.boolean({description: 'do not import file contents (roundup-admin importtables)'}),
  }

  async run() {
    const {args, flags} = this
    const tracker = await openTracker(args.home)
    const options = {files: !((this.constructor as typeof Import).tablesOnly || flags['no-files'])}
    return this.execute(
      {
        kind: 'restore',
        plan: async () => importPlan(tracker, args.dir, options),
        locks: [tracker.home],
        // the staged sqlite file and files/ of a killed import
        recover: () => sweepLeftovers(tracker.dbDir),
        act: async (_plan, context) => {
          const r = await importTracker(tracker, args.dir, options)
          for (const n of r.notes) context.note(n)
          return {source: args.dir, target: r.database, ...r}
        },
      },
      (r) => [
        ...r.classes.map((c) => `${c.name}: ${c.items} items, ${c.journals} journal entries, next id ${c.nextId}`),
        `Imported ${r.classes.length} classes into the ${r.backend} database ${r.database}`,
      ],
    )
  }
}
