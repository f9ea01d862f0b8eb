import {datedNaming, rollingNaming} from '@bkcli/core'

/** IOTstack's names: `backup_%Y-%m-%d_%H%M.tar.gz` (local time) and `backup_<date +%u>.tar.gz` (1–7, Monday = 1). */
export const DATED_NAMING = datedNaming({prefix: 'backup_', format: '%Y-%m-%d_%H%M', suffix: '.tar.gz', clock: 'local'})
export const ROLLING_NAMING = rollingNaming({prefix: 'backup_', suffix: '.tar.gz'})
