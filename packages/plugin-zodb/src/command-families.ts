// The two families of `bk zodb` commands: backup-like (backup, fullbackup, snapshotbackup, zipbackup) and
// restore-like (restore, snapshotrestore, ziprestore). Each family shares its flags, args and run logic here; a
// concrete command (under commands/, where oclif loads it) only states its help text and which locations it uses.
// Kept outside commands/ so oclif does not take these abstract classes for commands.

import {BkCommand, BkError, hooksFromFlags, retentionFromFlags} from '@bkcli/core'
import {backupFlags, restoreArgs, restoreFlags} from './flags.js'
import {backupText, damageOf, restoreText} from './render.js'
import {parseRestoreDate} from './repozo-date.js'
import {type Mode, resolveSite} from './settings.js'
import {backupSite, restoreSite} from './site.js'

export const restoreDescription = `Nothing live is replaced until the restored Data.fs is complete and verified: it is written to
<Data.fs>.part, each backup file's size and md5 and the FileStorage structure are checked, it is fsynced and
renamed over Data.fs. Refuses while Data.fs.lock is held by a running Zope/ZEO (unless --ignore-lock).`

export const restoreExamples = [
  '<%= config.bin %> <%= command.id %>',
  '<%= config.bin %> <%= command.id %> 2024-01-02-10-30-00 --no-prompt',
]

/** Restores a site as of a date (argument or --date) from the repositories of `mode`. */
export abstract class RestoreCommand extends BkCommand<typeof RestoreCommand> {
  static override args = restoreArgs
  static override flags = restoreFlags

  /** Which locations (backup, snapshot or zip) this command restores from. */
  protected abstract readonly mode: Mode

  async run() {
    const {args, flags} = this
    if (args.date && flags.date && args.date !== flags.date) {
      throw new BkError(`two different dates given (${args.date} and --date ${flags.date}); give one`)
    }
    const given = args.date ?? flags.date
    const date = given === undefined ? undefined : parseRestoreDate(given)
    const site = await resolveSite(flags)
    const result = await restoreSite(site, {
      mode: this.mode,
      date,
      ignoreLock: flags['ignore-lock'],
      dryRun: flags['dry-run'],
      confirm: (question) => this.confirmOrAbort(question, 'replace the filestorage'),
      hooks: hooksFromFlags(flags),
      log: (m) => this.info(m),
      progress: (label, total) => this.progress(label, total),
    })
    return this.report(result, restoreText)
  }
}

export const backupExamples = ['<%= config.bin %> <%= command.id %>']

/** Backs up a site into the repositories of `mode`; exits 1 after reporting when the source looks damaged. */
export abstract class BackupCommand extends BkCommand<typeof BackupCommand> {
  static override flags = backupFlags

  /** Which locations (backup, snapshot or zip) this command writes to. */
  protected abstract readonly mode: Mode

  /** Whether to force a full backup; only `backup` may make incrementals. */
  protected wantsFull(): boolean {
    return true
  }

  async run() {
    const {flags} = this
    if (flags['dry-run']) throw new BkError('--dry-run is not supported by backups; run without it')
    const site = await resolveSite(flags)
    const result = await backupSite(site, {
      mode: this.mode,
      full: this.wantsFull(),
      gzip: flags.gzip,
      archiveBlob: flags['archive-blob'],
      compressBlob: flags['compress-blob'],
      hardLinks: flags['hard-links'],
      retention: retentionFromFlags(flags),
      keepBlobDays: flags['keep-blob-days'],
      hooks: hooksFromFlags(flags),
      log: (m) => this.info(m),
      progress: (label, total) => this.progress(label, total),
    })
    this.report(result, backupText)
    const damage = damageOf(result)
    if (damage) {
      process.stderr.write(`bk: ${damage}\n`)
      this.exit(1)
    }
    return result
  }
}
