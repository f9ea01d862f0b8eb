export {StopSignal} from './loop.js'
export {type FileEntry, type FilesLog, type FollowedFolder, filesAsOf, readFilesLogs} from './sqlite/files.js'
export {
  checkWalMode,
  readMarker,
  SqliteFollower,
  type SqliteFollowOptions,
  type SqliteFollowResult,
  type SqliteFollowTarget,
  type SqliteShipment,
} from './sqlite/follower.js'
export {
  type FollowManifest,
  listGenerations,
  readManifests,
  type ShippedCommit,
  type WalPosition,
} from './sqlite/location.js'
export {
  chooseFollowState,
  followRestoreOperation,
  isFollowLocation,
  SqliteFollowRestore,
  type SqliteFollowRestoreOptions,
  type SqliteFollowRestoreResult,
} from './sqlite/restore.js'
export {
  type SqliteFollowStatus,
  sqliteFollowStatus,
  sqliteFollowStatusText,
  verifySqliteFollow,
} from './sqlite/status.js'
export {parseWalHeader, type WalHeader, walChecksum} from './sqlite/wal.js'
export {type FollowUnitOptions, followUnit} from './unit.js'
