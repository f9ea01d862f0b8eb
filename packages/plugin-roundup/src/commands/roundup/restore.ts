import {parseAsOf} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import {followRestoreOperation, isFollowLocation} from '@bkcli/core/follow'
import {Args, Flags} from '@bkcli/core/oclif'
import {
  frontendFlags,
  frontendLines,
  frontendSteps,
  frontendsFromFlags,
  hookFlags,
  withFrontendsStopped,
} from '@bkcli/core/process'
import {roundupFollowRestoreTarget} from '../../follow.js'
import {TrackerRestore} from '../../restore.js'

export default class Restore extends BkCommand<typeof Restore> {
  static override summary = 'Restore a bk roundup backup into a tracker home (the old home kept under a dated name).'
  static override description =
    'Checks the archive against its manifest, stages the home beside the target, puts the database back (sqlite ' +
    'file; PostgreSQL/MySQL dump loaded into a fresh, empty database — an existing non-empty one is refused), ' +
    'refuses a database whose stored schema does not match the restored schema.py, then swaps the home (and an ' +
    'absolute [main] database folder) in at one commit point. The previous home is kept as ' +
    '<home>.old-YYYY-MM-DD_HHMMSS (UTC), never overwritten. --backend-url points the restored config.ini at another ' +
    'database (no password in the URL).'
  static override examples = [
    '<%= config.bin %> roundup restore /backup/tracker-2026-11-21_020000.tar.gz /srv/tracker',
    '<%= config.bin %> roundup restore backup.tar.gz /srv/tracker --backend-url postgresql://roundup@db:5432/tracker_new',
  ]
  static override args = {
    backup: Args.string({description: 'a bk roundup backup archive, or a bk roundup follow location', required: true}),
    home: Args.string({description: 'tracker home to restore into (replaced if it exists)', required: true}),
  }
  static override flags = {
    ...dryRunFlag,
    ...hookFlags,
    'as-of': Flags.string({
      description:
        'With a `bk roundup follow` location as the backup: the state as of this time (ISO 8601, UTC); default its newest.',
    }),
    'backend-url': Flags.string({description: 'database for the restored tracker: postgresql://…, mysql://…, sqlite:'}),
    ...frontendFlags('roundup-server'),
  }

  async run() {
    const {args, flags} = this
    const frontends = frontendsFromFlags(flags, {name: 'roundup-server', match: /roundup/i})
    if (await isFollowLocation(args.backup)) {
      // a follow location: its database and files as of a time, into the tracker's db/db and db/files
      const target = await roundupFollowRestoreTarget(args.home)
      const {operation, render} = await followRestoreOperation(args.backup, {
        ...target,
        asOf: flags['as-of'] ? parseAsOf(flags['as-of']) : undefined,
        frontends,
      })
      return this.execute(operation, render)
    }
    if (flags['as-of']) throw new BkError(`--as-of needs a bk roundup follow location; ${args.backup} is not one`)
    const restore = await TrackerRestore.open(args.backup, args.home, {backendUrl: flags['backend-url']})
    return this.execute(
      {
        kind: 'restore',
        plan: async () => {
          const plan = await restore.plan()
          const around = frontendSteps(frontends)
          return {...plan, steps: [...around.stop, ...plan.steps, ...around.start]}
        },
        confirm: () =>
          restore.replacing
            ? {question: `Replace the tracker home ${restore.home}?`, action: 'restore over an existing tracker home'}
            : undefined,
        locks: [restore.home],
        recover: () => restore.recover(),
        hooks: {env: {BK_TARGET: restore.home, BK_BACKUP: restore.backup}},
        act: async (_plan, context) => {
          // the servers are stopped around the swap and started again afterwards, also on failure
          const {value: r, frontends: stopped} = await withFrontendsStopped(frontends, () => restore.run())
          for (const n of r.notes) context.note(n)
          for (const w of frontendLines(stopped).warnings) context.note(w)
          return {source: r.backup, target: r.home, ...r, frontends: stopped}
        },
      },
      (r) => [
        `Restored ${r.backup} into ${r.home} (${r.backend} database ${r.database}).`,
        ...r.kept.map(
          (k) => `The previous ${k.startsWith(`${r.home}.old-`) ? 'home' : 'database folder'} is kept as ${k}.`,
        ),
        ...frontendLines(r.frontends).info,
      ],
    )
  }
}
