import {Flags} from '@bkcli/core/oclif'

/** `--dry-run`, offered only by commands that run through `execute()` (and so can show a plan). */
export const dryRunFlag = {
  'dry-run': Flags.boolean({
    description: 'Print the plan (what would be created, replaced, removed) and change nothing.',
    helpGroup: 'GLOBAL',
  }),
}

/**
 * `--location`, spelled one way in every plugin. `aliases` keeps a plugin's older spelling working (hidden
 * from help: oclif shows aliases only in the flag's own line, not as flags).
 */
export function locationFlag(description: string, options: {aliases?: string[]; required?: boolean} = {}) {
  return Flags.string({
    description: `Backup location: ${description}`,
    aliases: options.aliases,
    required: options.required,
    helpGroup: 'LOCATION',
  })
}
