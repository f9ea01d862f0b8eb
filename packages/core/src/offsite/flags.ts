import {Flags} from '@bkcli/core/oclif'

/** `--copy-to` and `--allow-unencrypted`, the same on every backup command (see BkCommand.offsite()). */
export const offsiteFlags = {
  'copy-to': Flags.string({
    description:
      'Copy the new backup off-site after it is made (repeatable): restic:<repository> (password from RESTIC_PASSWORD_FILE) or an rclone destination remote:path. Retention flags apply there too.',
    multiple: true,
    helpGroup: 'OFF-SITE',
  }),
  'allow-unencrypted': Flags.boolean({
    description: 'Allow --copy-to a target that does not encrypt although the backup holds secrets.',
    helpGroup: 'OFF-SITE',
  }),
}
