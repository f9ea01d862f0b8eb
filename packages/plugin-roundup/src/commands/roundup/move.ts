import {resolve} from 'node:path'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {recoverMigrate} from '../../migrate.js'
import {movePlan, moveTracker} from '../../move.js'

export default class Move extends BkCommand<typeof Move> {
  static override summary = 'Copy a tracker to a new home with a database of its own, verified.'
  static override description =
    'A consistent copy of the home, db/files and the database into <new-home>. The new config.ini never points at ' +
    'the source: a sqlite tracker gets its own db/ (an absolute [main] database is made relative), a PostgreSQL or ' +
    'MySQL tracker needs --url naming a new database. Both trackers are exported and compared; the source is ' +
    'left untouched.'
  static override examples = [
    '<%= config.bin %> roundup move /srv/tracker /srv/tracker2',
    '<%= config.bin %> roundup move /srv/tracker /srv/tracker2 --url postgresql://roundup@newdb/tracker2',
  ]
  static override args = {
    home: Args.string({description: 'tracker home', required: true}),
    'new-home': Args.string({description: 'the new tracker home (must not exist)', required: true}),
  }
  static override flags = {
    ...dryRunFlag,
    url: Flags.string({description: 'new database for a PostgreSQL/MySQL tracker (no password in it)'}),
    'password-file': Flags.string({description: 'file holding that database password (config.ini will name it)'}),
  }

  async run() {
    const {args, flags} = this
    const options = {url: flags.url, passwordFile: flags['password-file'], onStep: (s: string) => this.info(`… ${s}`)}
    const home = resolve(args.home)
    return this.execute(
      {
        kind: 'restore',
        plan: () => movePlan(args.home, args['new-home'], options),
        locks: [home, resolve(args['new-home'])],
        recover: () => recoverMigrate(home),
        act: async (_plan, context) => {
          const r = await moveTracker(args.home, args['new-home'], options)
          for (const n of r.notes) context.note(n)
          return {source: r.home, target: r.newHome, ...r}
        },
      },
      (r) => `Copied ${r.home} to ${r.newHome} (${r.database}); verified, the source is unchanged.`,
    )
  }
}
