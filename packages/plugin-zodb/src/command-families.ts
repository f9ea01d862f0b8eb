// The two families of `bk zodb` commands: backup-like (backup, fullbackup, snapshotbackup, zipbackup) and
// restore-like (restore, snapshotrestore, ziprestore). Each runs through core's workflow (plan, --dry-run,
// confirm, target locks, recover, hooks, act, retention, one result); a concrete command (under commands/, where
// oclif loads it) only states its help text and which locations it uses. Kept outside commands/ so oclif does
// not take these abstract classes for commands.
import {retentionFromFlags} from '@bkcli/core/catalog'
import {BkCommand, dryRunFlag} from '@bkcli/core/command'
import {BkError} from '@bkcli/core/errors'
import type {Interfaces} from '@bkcli/core/oclif'
import {type backupFlags, offsiteFlags, restoreArgs, restoreFlags, zipbackupFlags} from './flags.js'
import {parseAsOf} from './follow/as-of.js'
import {backupOutput, backupText, damageOf, restoreText} from './render.js'
import {parseRestoreDate} from './repozo-date.js'
import {type Mode, resolveSite} from './settings.js'
import {backupLocks, backupSite, planBackup, recoverBackup, retentionOf, SiteRestore, upcomingOf} from './site.js'
import {siteStore} from './store.js'

export const restoreDescription = `Nothing live is replaced until every part is complete and verified: each Data.fs (with its index) and
each blob storage is staged beside its target under a name of its own, checked (size and md5 of every backup
file, FileStorage structure), fsynced, and then all are swapped in at one commit point. A killed restore leaves
the old or the new state, and the next bk run on the target finishes it. The previous copies are kept as
<name>.pre-restore-<stamp>. Refuses while Data.fs.lock is held by a running Zope/ZEO (unless --ignore-lock).`

export const restoreExamples = [
  '<%= config.bin %> <%= command.id %> --dry-run',
  '<%= config.bin %> <%= command.id %> 2024-01-02-10-30-00 --no-prompt',
]

/** Restores a site as of a date (argument or --date) from the repositories of `mode`. */
export abstract class RestoreCommand extends BkCommand<typeof RestoreCommand> {
  static override args = restoreArgs
  static override flags = {...dryRunFlag, ...restoreFlags}

  /** Which locations (backup, snapshot or zip) this command restores from. */
  protected abstract readonly mode: Mode

  /** Why this command may not run with these settings (the recipe's enable_… options), or undefined. */
  protected disabled(): string | undefined {
    return undefined
  }

  async run() {
    const {args, flags} = this
    const off = this.disabled()
    if (off) throw new BkError(off)
    if (args.date && flags.date && args.date !== flags.date) {
      throw new BkError(`two different dates given (${args.date} and --date ${flags.date}); give one`)
    }
    if (args.date && flags['as-of']) {
      throw new BkError(`give a date or --as-of, not both (${args.date} and --as-of ${flags['as-of']})`)
    }
    const given = args.date ?? flags.date
    const date = given === undefined ? undefined : parseRestoreDate(given)
    const asOf = flags['as-of'] === undefined ? undefined : parseAsOf(flags['as-of'])
    const site = await resolveSite(flags)
    const restore = await SiteRestore.open(site, {mode: this.mode, date, asOf, ignoreLock: flags['ignore-lock']})
    const live = await restore.replacing()
    return this.execute(
      {
        kind: 'restore',
        plan: () => restore.plan(),
        confirm: () =>
          live.length === 0
            ? undefined
            : {question: `This will replace ${live.join(', ')}. Are you sure?`, action: 'replace the filestorage'},
        locks: restore.locks,
        recover: () => restore.recover(),
        hooks: {env: {BK_TARGET: restore.main.datafs}},
        act: (_plan, context) => restore.run(context),
      },
      restoreText,
    )
  }
}

export const backupExamples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dry-run']

/** Backs up a site into the repositories of `mode`; exits 1 after reporting when the source looks damaged. */
export abstract class BackupCommand extends BkCommand<typeof BackupCommand> {
  // the flags all four honour; each command adds what it honours beyond them (a flag shown is a flag obeyed)
  static override flags = {...dryRunFlag, ...zipbackupFlags, ...offsiteFlags}

  /** Which locations (backup, snapshot or zip) this command writes to. */
  protected abstract readonly mode: Mode

  /** Whether to force a full backup; only `backup` may make incrementals. */
  protected wantsFull(): boolean {
    return true
  }

  /** Why this command may not run with these settings (the recipe's enable_… options), or undefined. */
  protected disabled(): string | undefined {
    return undefined
  }

  async run() {
    const {mode} = this
    const flags = this.flags as typeof this.flags & Partial<Interfaces.InferredFlags<typeof backupFlags>>
    const off = this.disabled()
    if (off) throw new BkError(off)
    const site = await resolveSite(flags)
    const options = {
      mode,
      full: this.wantsFull(),
      gzip: flags.gzip,
      archiveBlob: flags['archive-blob'],
      compressBlob: flags['compress-blob'],
      hardLinks: flags['hard-links'],
      incrementalBlobs: flags['incremental-blobs'],
      // the recipe's keep_blob_days for bin/backup: ordinary (partial) backups, when given
      keepBlobDays: mode === 'backup' && !this.wantsFull() ? flags['keep-blob-days'] : undefined,
    }
    const store = async () => siteStore(site, mode)
    const upcoming = () => upcomingOf(site, mode)
    const given = this.retention(store, upcoming)
    const policy = retentionOf(site, mode, given?.policy ?? retentionFromFlags(flags), flags['keep-blob-days'])
    const retention = given || mode === 'zip' ? {policy, store, upcoming} : undefined
    const result = await this.execute(
      {
        kind: 'backup',
        plan: () => planBackup(site, options),
        locks: backupLocks(site, mode),
        recover: () => recoverBackup(site, mode),
        hooks: {env: {BK_TARGET: site.storages.at(-1)!.datafs}},
        act: async (_plan, context) => backupOutput(await backupSite(site, options, context)),
        retention,
        offsite: this.offsite(store),
      },
      backupText,
    )
    const damage = 'storages' in result ? damageOf(result) : undefined
    if (damage) {
      process.stderr.write(`bk: ${damage}\n`)
      this.exit(1)
    }
    return result
  }
}
