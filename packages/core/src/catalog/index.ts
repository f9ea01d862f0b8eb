export {parseAsOf} from './asof.js'
export {Catalog, type CatalogEntry, type CatalogOptions, SIDECAR_SUFFIX, sortNewestFirst} from './catalog.js'
export {hasRetention, type RetentionFlagValues, retentionFlags, retentionFromFlags} from './flags.js'
export {formatListing, type ListingRow, listingRows} from './listing.js'
export {
  type Clock,
  type DatedNamingOptions,
  datedNaming,
  isoWeekday,
  type Naming,
  type ParsedName,
  type RollingNamingOptions,
  rollingNaming,
  snapshotNaming,
} from './naming.js'
export {type PruneOptions, prune} from './prune.js'
export {
  dayKey,
  isoWeekKey,
  monthKey,
  planRetention,
  type RetentionPlan,
  type RetentionPolicy,
} from './retention.js'
