import {datedNaming, type Naming, rollingNaming} from '@bkcli/core/catalog'

/**
 * IOTstack's names: `backup_%Y-%m-%d_%H%M.tar.gz` (local time) and `backup_<date +%u>.tar.gz` (1–7, Monday = 1).
 * With `--zstd` bk writes `.tar.zst` under the same names (much faster; IOTstack's restore.sh cannot read those).
 * DATED_NAMING and ROLLING_NAMINGS recognise both.
 */
export type StackCompression = 'gzip' | 'zstd'

export const SUFFIX: Record<StackCompression, string> = {gzip: '.tar.gz', zstd: '.tar.zst'}
const ALL_SUFFIXES = [SUFFIX.gzip, SUFFIX.zstd]

/** Dated names; new names use the suffix of `compression`. */
export function datedNamingFor(compression: StackCompression = 'gzip'): Naming {
  const first = SUFFIX[compression]
  return datedNaming({
    prefix: 'backup_',
    format: '%Y-%m-%d_%H%M',
    suffix: [first, ...ALL_SUFFIXES.filter((s) => s !== first)],
    clock: 'local',
  })
}

export function rollingNamingFor(compression: StackCompression = 'gzip'): Naming {
  return rollingNaming({prefix: 'backup_', suffix: SUFFIX[compression]})
}

export const DATED_NAMING = datedNamingFor('gzip')
export const ROLLING_NAMING = rollingNamingFor('gzip')
export const ROLLING_NAMINGS = [ROLLING_NAMING, rollingNamingFor('zstd')]

/** An IOTstack backup name of either compression (dated or rolling). */
export const ARCHIVE_NAME = /^backup_[^/]*\.tar\.(gz|zst)$/

/** The name without its archive suffix (`backup_2026-11-21_2219`), for the log's name. */
export function baseName(name: string): string {
  return name.replace(/\.tar\.(gz|zst)$/, '')
}
