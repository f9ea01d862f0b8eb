import {locationFlag as coreLocationFlag} from '@bkcli/core/command'
import {Flags} from '@bkcli/core/oclif'
import {DEFAULT_ADMIN_URL, DEFAULT_LOCATION} from './naming.js'

/** Flags several aegir commands share: core's --location (old spelling --backups-dir kept as an alias). */
export const locationFlag = coreLocationFlag(`provision's backups folder (default ${DEFAULT_LOCATION}).`, {
  aliases: ['backups-dir'],
})

/** The location of the flags, provision's default when none is given. */
export function locationOf(flags: {location?: string}): string {
  return flags.location ?? DEFAULT_LOCATION
}

export const siteDbFlags = {
  'db-url': Flags.string({
    description:
      "The site's database as a URL without password, for a settings.php that reads its credentials from $_SERVER (cloaked); the password from BK_DB_PASSWORD or --password-file.",
    helpGroup: 'DATABASE',
  }),
  'password-file': Flags.string({description: 'File holding the password for --db-url.', helpGroup: 'DATABASE'}),
}

export const adminFlags = {
  'db-admin-url': Flags.string({
    description:
      'The database server admin account that creates and drops databases and users (no password here: BK_DB_ADMIN_PASSWORD, --db-admin-password-file or db-admin-password in bk.yml).',
    default: DEFAULT_ADMIN_URL,
    helpGroup: 'DATABASE',
  }),
  'db-admin-password-file': Flags.string({description: 'File holding the admin password.', helpGroup: 'DATABASE'}),
  'db-name': Flags.string({
    description: 'Name of the new database and its user (default: from the uri as provision does, the first free one).',
    helpGroup: 'DATABASE',
  }),
  'db-grant-host': Flags.string({
    description: "Host part of the site's new database account (MySQL/MariaDB).",
    default: '%',
    helpGroup: 'DATABASE',
  }),
}

export const dumpFlags = {
  force: Flags.boolean({description: 'Accept an implausibly small database dump (as provision --force).'}),
  'strip-definer': Flags.boolean({
    description: 'Remove DEFINER clauses from the dump so it loads under a new database user.',
    default: true,
    allowNo: true,
  }),
}

export const webGroupFlag = Flags.string({
  description:
    "Group of the web server for the site's files and settings.php (provision's web_group). Default: the group the site's files folder has.",
})
