// Flags shared by the `bk zodb` commands, named after collective.recipe.backup's options in kebab-case; every
// one can also be set in bk.yml under `zodb:` (e.g. `keep-blob-days: 14`). Each also answers to the recipe's own
// spelling (`keep_blob_days`, `blobbackuplocation` …, an oclif alias): a buildout part's options can be copied
// into bk.yml as they are, and typed as `--keep_blob_days` too.

import {retentionFlags} from '@bkcli/core/catalog'
import {locationFlag} from '@bkcli/core/command'
import {Args, Flags} from '@bkcli/core/oclif'
import {offsiteFlags as coreOffsiteFlags} from '@bkcli/core/offsite'
import {hookFlags} from '@bkcli/core/process'

const STORAGE = 'STORAGE'
const LOCATIONS = 'LOCATIONS'
const BLOBS = 'BLOBS'

/** A core flag with the recipe's spelling of its name as an alias. */
function withAlias<F extends object>(flag: F, ...aliases: string[]): F {
  return {...flag, aliases}
}

/** The hooks, answering to the recipe's `pre_command` / `post_command`. */
const recipeHookFlags = {
  'pre-command': withAlias(hookFlags['pre-command'], 'pre_command'),
  'post-command': withAlias(hookFlags['post-command'], 'post_command'),
}

/**
 * The recipe's options bk has no use for, accepted as keys so a copied buildout part is not met with "unknown
 * key": a value that asks for behaviour bk does not have is refused with a one-line pointer (settings.ts).
 */
const recipeOnly = (name: string, description: string) => Flags.string({description, hidden: true, aliases: [name]})
const recipeOnlyBoolean = (name: string, description: string) =>
  Flags.boolean({description, allowNo: true, hidden: true, aliases: [name]})

export const recipeOnlyFlags = {
  'rsync-options': recipeOnly('rsync_options', 'The recipe’s rsync_options: bk copies blobs itself (no rsync).'),
  'rsync-hard-links-on-first-copy': recipeOnlyBoolean(
    'rsync_hard_links_on_first_copy',
    'The recipe’s rsync_hard_links_on_first_copy: bk never hard-links a backup to the live blobs.',
  ),
  'blob-timestamps': recipeOnlyBoolean(
    'blob_timestamps',
    'The recipe’s blob_timestamps: bk always names blob backups by stamp (true is accepted).',
  ),
  'alternative-restore-source': Flags.string({
    description: 'The recipe’s alternative_restore_source: give the locations to restore from instead.',
    hidden: true,
    aliases: ['alternative_restore_source', 'alternative_restore_sources'],
  }),
  debug: recipeOnlyBoolean('debug', 'The recipe’s debug: use -v (--verbose).'),
  'enable-fullbackup': recipeOnlyBoolean(
    'enable_fullbackup',
    'The recipe’s enable_fullbackup (before 5.0): bk zodb fullbackup always exists.',
  ),
}

export const siteFlags = {
  ...recipeOnlyFlags,
  datafs: Flags.string({
    description:
      'Filestorage to back up/restore (default var/filestorage/Data.fs). Repeat as name=path for extra named filestorages (backed up first, into <location>_<name>); a name alone means <filestorage dir>/<name>.fs.',
    multiple: true,
    helpGroup: STORAGE,
  }),
  'additional-filestorages': Flags.string({
    description:
      "Extra filestorages as the recipe's additional_filestorages lines: 'NAME [DATAFS [BLOBDIR]]' (default DATAFS <filestorage dir>/NAME.fs). Same as --datafs NAME=DATAFS --blob-storage NAME=BLOBDIR.",
    multiple: true,
    aliases: ['additional_filestorages'],
    helpGroup: STORAGE,
  }),
  'blob-storage': Flags.string({
    description:
      'Blob storage directory (default <prefix>/blobstorage when it exists); name=path for a named filestorage.',
    multiple: true,
    aliases: ['blob_storage'],
    helpGroup: STORAGE,
  }),
  'backup-blobs': Flags.boolean({
    description: 'Back up/restore the blob storage too (default: when one is found).',
    allowNo: true,
    aliases: ['backup_blobs'],
    helpGroup: BLOBS,
  }),
  'only-blobs': Flags.boolean({
    description: 'Only the blob storage, not the filestorage.',
    aliases: ['only_blobs'],
    helpGroup: BLOBS,
  }),
  'location-prefix': Flags.string({
    description: 'Folder holding the default locations (default: the var folder, parent of filestorage/).',
    aliases: ['locationprefix'],
    helpGroup: LOCATIONS,
  }),
  location: locationFlag('the repozo repository of `backup` (default <prefix>/backups).'),
  'snapshot-location': Flags.string({
    description: 'Repository of `snapshotbackup` (default <prefix>/snapshotbackups).',
    aliases: ['snapshotlocation'],
    helpGroup: LOCATIONS,
  }),
  'zip-location': Flags.string({
    description: 'Repository of `zipbackup` (default <prefix>/zipbackups).',
    aliases: ['ziplocation'],
    helpGroup: LOCATIONS,
  }),
  'blob-backup-location': Flags.string({
    description: 'Blob backups of `backup` (default <prefix>/blobstoragebackups).',
    aliases: ['blobbackuplocation'],
    helpGroup: LOCATIONS,
  }),
  'blob-snapshot-location': Flags.string({
    description: 'Blob backups of `snapshotbackup` (default <prefix>/blobstoragesnapshots).',
    aliases: ['blobsnapshotlocation'],
    helpGroup: LOCATIONS,
  }),
  'blob-zip-location': Flags.string({
    description: 'Blob archives of `zipbackup` (default <prefix>/blobstoragezips).',
    aliases: ['blobziplocation'],
    helpGroup: LOCATIONS,
  }),
}

/** The recipe's `keep_blob_days`, shared by the backups and prune. */
export const keepBlobDaysFlag = Flags.integer({
  min: 0,
  description:
    "The recipe's keep_blob_days. With --only-blobs: keep blob backups younger than this many days (default 14). When given for `backup` (not --full): blob backup directories older than this many days are removed too, the newest of each full backup's chain kept (0 = off).",
  aliases: ['keep_blob_days'],
  helpGroup: 'RETENTION',
})

/** The flags every backup-like command honours, zipbackup included (it always gzips and archives, keeping one). */
export const zipbackupFlags = {
  ...siteFlags,
  quick: Flags.boolean({
    description:
      "The recipe's `quick` (repozo -Q), accepted for old configs: bk's incremental check is always as cheap as quick mode and checks more, so this changes nothing.",
    allowNo: true,
    hidden: true,
  }),
  'compress-blob': Flags.boolean({
    description: 'gzip the blob tar archives (.tar.gz).',
    aliases: ['compress_blob'],
    helpGroup: BLOBS,
  }),
  ...recipeHookFlags,
}

/** snapshotbackup's flags: zipbackup's plus the file formats and the retention. */
export const snapshotbackupFlags = {
  ...zipbackupFlags,
  gzip: Flags.boolean({
    description:
      'Write .fsz/.deltafsz (gzip) files, as the recipe always does (--gzip=false or --no-gzip: .fs/.deltafs).',
    allowNo: true,
    default: true,
  }),
  'archive-blob': Flags.boolean({
    description: 'Blob backups as tar archives instead of directories.',
    aliases: ['archive_blob', 'gzip_blob'],
    helpGroup: BLOBS,
  }),
  'hard-links': Flags.boolean({
    description:
      "Hard-link unchanged blobs to the previous blob backup (the recipe's use_rsync / rsync --link-dest); --no-hard-links copies every blob.",
    allowNo: true,
    default: true,
    aliases: ['use_rsync'],
    helpGroup: BLOBS,
  }),
  ...retentionFlags,
  keep: Flags.integer({
    min: 0,
    default: 2,
    description: 'Full backups to keep, each with its incrementals and blob backups (0 = keep everything).',
    helpGroup: 'RETENTION',
  }),
  'keep-blob-days': keepBlobDaysFlag,
}

/** `backup`'s and fullbackup's flags (bin/backup): they start or extend the incremental blob archive chains. */
export const backupFlags = {
  ...snapshotbackupFlags,
  'incremental-blobs': Flags.boolean({
    description:
      "With --archive-blob, on `backup` and `fullbackup`: GNU tar incremental archives (<base>.<stamp>.delta.tar after a full <base>.<full stamp>.tar, with its .snar), as the recipe's incremental_blobs writes them. Needs GNU tar.",
    aliases: ['incremental_blobs'],
    helpGroup: BLOBS,
  }),
}

export const restoreArgs = {
  date: Args.string({
    description:
      "Restore the state as of this UTC date, yyyy-mm-dd[-hh[-mm[-ss]]] (repozo's meaning: a partial date means before that period starts; only a full stamp is inclusive). Default: the newest backup.",
  }),
}

export const restoreFlags = {
  ...siteFlags,
  date: Flags.string({description: 'Same as the date argument.'}),
  'as-of': Flags.string({
    description:
      'Point in time: restore the chain that covers TIME, then cut the filestorage after the last transaction committed at or before TIME (ISO 8601, UTC when no zone is given, or yyyy-mm-dd-hh-mm-ss). Blobs: the newest blob backup at or before TIME.',
    exclusive: ['date'],
  }),
  'ignore-lock': Flags.boolean({
    description: 'Restore even when Data.fs.lock is held by a running process (Zope/ZEO). Dangerous.',
  }),
  ...recipeHookFlags,
}

/** A flag set with the named flags hidden from --help (still accepted: one bk.yml section serves every command). */
export function hideFlags<F extends Record<string, object>>(flags: F, ...names: (keyof F)[]): F {
  const out = {...flags}
  for (const name of names) out[name] = {...out[name], hidden: true}
  return out
}

/** A flag set without the named flags (a command that cannot honour them must refuse them, not ignore them). */
export function omitFlags<F extends Record<string, object>, K extends keyof F>(flags: F, ...names: K[]): Omit<F, K> {
  const out = {...flags}
  for (const name of names) delete out[name]
  return out
}

/** The locations of snapshotbackup and zipbackup, which `backup`/`restore` only check for overlaps. */
export const snapshotLocationFlags = ['snapshot-location', 'blob-snapshot-location'] as const
export const zipLocationFlags = ['zip-location', 'blob-zip-location'] as const
export const backupLocationFlags = ['blob-backup-location'] as const

/** zipbackup's and ziprestore's switch (the recipe's `enable_zipbackup`). */
export const enableZipbackupFlag = {
  'enable-zipbackup': Flags.boolean({
    description:
      "Allow zipbackup and ziprestore (the recipe's enable_zipbackup); `enable_zipbackup: false` in bk.yml makes them refuse.",
    allowNo: true,
    default: true,
    aliases: ['enable_zipbackup'],
  }),
}

/**
 * --copy-to without --allow-unencrypted: bk declares no secret in a ZODB backup (no credentials file is part of
 * it), so no target is refused and the flag would change nothing. Still accepted, for a shared bk.yml.
 */
export const offsiteFlags = hideFlags(coreOffsiteFlags, 'allow-unencrypted')
