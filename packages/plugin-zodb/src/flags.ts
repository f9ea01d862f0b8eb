// Flags shared by the `bk zodb` commands, named after collective.recipe.backup's options in kebab-case; every
// one can also be set in bk.yml under `zodb:` (e.g. `keep-blob-days: 14`).

import {hookFlags, locationFlag, retentionFlags} from '@bkcli/core'
import {Args, Flags} from '@oclif/core'

const STORAGE = 'STORAGE'
const LOCATIONS = 'LOCATIONS'
const BLOBS = 'BLOBS'

export const siteFlags = {
  datafs: Flags.string({
    description:
      'Filestorage to back up/restore (default var/filestorage/Data.fs). Repeat as name=path for extra named filestorages (backed up first, into <location>_<name>).',
    multiple: true,
    helpGroup: STORAGE,
  }),
  'blob-storage': Flags.string({
    description:
      'Blob storage directory (default <prefix>/blobstorage when it exists); name=path for a named filestorage.',
    multiple: true,
    helpGroup: STORAGE,
  }),
  'backup-blobs': Flags.boolean({
    description: 'Back up/restore the blob storage too (default: when one is found).',
    allowNo: true,
    helpGroup: BLOBS,
  }),
  'only-blobs': Flags.boolean({description: 'Only the blob storage, not the filestorage.', helpGroup: BLOBS}),
  'location-prefix': Flags.string({
    description: 'Folder holding the default locations (default: the var folder, parent of filestorage/).',
    helpGroup: LOCATIONS,
  }),
  location: locationFlag('the repozo repository of `backup` (default <prefix>/backups).'),
  'snapshot-location': Flags.string({
    description: 'Repository of `snapshotbackup` (default <prefix>/snapshotbackups).',
    helpGroup: LOCATIONS,
  }),
  'zip-location': Flags.string({
    description: 'Repository of `zipbackup` (default <prefix>/zipbackups).',
    helpGroup: LOCATIONS,
  }),
  'blob-backup-location': Flags.string({
    description: 'Blob backups of `backup` (default <prefix>/blobstoragebackups).',
    helpGroup: LOCATIONS,
  }),
  'blob-snapshot-location': Flags.string({
    description: 'Blob backups of `snapshotbackup` (default <prefix>/blobstoragesnapshots).',
    helpGroup: LOCATIONS,
  }),
  'blob-zip-location': Flags.string({
    description: 'Blob archives of `zipbackup` (default <prefix>/blobstoragezips).',
    helpGroup: LOCATIONS,
  }),
}

export const backupFlags = {
  ...siteFlags,
  gzip: Flags.boolean({
    description: 'Write .fsz/.deltafsz (gzip) files, as the recipe always does.',
    allowNo: true,
    default: true,
  }),
  'archive-blob': Flags.boolean({
    description: 'Blob backups as tar archives instead of directories.',
    helpGroup: BLOBS,
  }),
  'compress-blob': Flags.boolean({description: 'gzip the blob tar archives (.tar.gz).', helpGroup: BLOBS}),
  'hard-links': Flags.boolean({
    description:
      "Hard-link unchanged blobs to the previous blob backup (the recipe's use_rsync / rsync --link-dest); --no-hard-links copies every blob.",
    allowNo: true,
    default: true,
    helpGroup: BLOBS,
  }),
  ...retentionFlags,
  keep: Flags.integer({
    min: 0,
    default: 2,
    description: 'Full backups to keep, each with its incrementals and blob backups (0 = keep everything).',
    helpGroup: 'RETENTION',
  }),
  'keep-blob-days': Flags.integer({
    min: 0,
    default: 14,
    description: 'With --only-blobs: keep blob backups younger than this many days.',
    helpGroup: 'RETENTION',
  }),
  ...hookFlags,
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
  'ignore-lock': Flags.boolean({
    description: 'Restore even when Data.fs.lock is held by a running process (Zope/ZEO). Dangerous.',
  }),
  ...hookFlags,
}
