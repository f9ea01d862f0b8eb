import {resolve} from 'node:path'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {step} from '@bkcli/core/workflow'
import {selectClasses} from '../../dbschema.js'
import {exportTracker} from '../../export.js'
import {assertEmptyTarget} from '../../staging.js'
import {describeDatabase, openTracker, readSchemaPy} from '../../tracker.js'

export default class Export extends BkCommand<typeof Export> {
  /** `exporttables`: the same export without file contents */
  static tablesOnly = false
  static override summary = 'Export a tracker in roundup-admin export format, byte-for-byte (CSV + journals + files).'
  static override description =
    'Writes <class>.csv, <class>-journals.csv and <class>-files/ exactly as `roundup-admin export` does, read in one ' +
    'consistent snapshot of the database (sqlite, PostgreSQL or MySQL). The target directory must be new or empty; ' +
    'it appears complete or not at all. --no-files gives `roundup-admin exporttables` output.'
  static override examples = [
    '<%= config.bin %> roundup export /srv/tracker /tmp/tracker-export',
    '<%= config.bin %> roundup export /srv/tracker /tmp/tables --no-files --classes -msg,file',
  ]
  static override args = {
    home: Args.directory({description: 'tracker home', required: true}),
    dir: Args.string({description: 'directory to write the export to (new or empty)', required: true}),
  }
  static override flags = {
    ...dryRunFlag,
    classes: Flags.string({description: 'classes to export: a,b — or all but these: -a,b'}),
    'no-files': Flags.boolean({description: 'leave out file contents (roundup-admin exporttables)'}),
  }

  async run() {
    const {args, flags} = this
    const tracker = await openTracker(args.home)
    const dir = resolve(args.dir)
    const noFiles = (this.constructor as typeof Export).tablesOnly || Boolean(flags['no-files'])
    return this.execute(
      {
        kind: 'backup',
        plan: async () => {
          assertEmptyTarget(dir)
          let classes: string[] | undefined
          try {
            classes = selectClasses(readSchemaPy(tracker), flags.classes)
          } catch (error) {
            if (flags.classes) throw error // a class that does not exist: the real run refuses it too
          }
          return {
            summary: `export ${tracker.home} to ${dir}`,
            steps: [
              step('copy', describeDatabase(tracker), 'one read snapshot'),
              step(
                'create',
                dir,
                `${classes ? `${classes.length} classes, ` : ''}${noFiles ? 'no files' : 'with files'}`,
              ),
            ],
          }
        },
        locks: [dir],
        act: async (_plan, context) => {
          const r = await exportTracker(tracker, dir, {classes: flags.classes, files: !noFiles})
          for (const w of r.warnings) context.note(w)
          return {artifacts: [{path: r.dir, bytes: r.bytes, kind: 'export'}], ...r}
        },
      },
      (r) => [
        ...r.classes.map(
          (c) => `${c.name}: ${c.items} items, ${c.journals} journal entries${c.files ? `, ${c.files} files` : ''}`,
        ),
        `Exported ${r.classes.length} classes from the ${r.backend} tracker ${r.tracker} to ${r.dir}`,
      ],
    )
  }
}
