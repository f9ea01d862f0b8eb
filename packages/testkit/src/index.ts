export {type CliResult, type RunBkOptions, runBk} from './cli.js'
export {
  adminClient,
  adminTarget,
  adminUrl,
  createTestDatabase,
  createTestUser,
  dropTestDatabase,
  dropTestLeftovers,
  dropTestUser,
  requireServer,
  type ServerEngine,
  type TestDatabase,
  type TestUser,
  uniqueDbName,
  withTestDatabase,
} from './db.js'
export {archiveDigests} from './digests.js'
export type {DryRunCase, DryRunSetup} from './dry-run.js'
export {openFds} from './fds.js'
export {copyFixture, extractFixture} from './fixtures.js'
export {type GzipMember, gzipMembers} from './gzip.js'
export {
  freePort,
  OFFSITE_KINDS,
  type OffsiteKind,
  type OffsiteTargets,
  offsiteTarget,
  offsiteTargets,
  type SftpServer,
  startSftpServer,
} from './offsite.js'
export {fixturePath, fixturesDir, fixtureTestsRun, isMissingFixtures, repoRoot} from './paths.js'
export type {RetentionCase, RetentionSetup} from './retention.js'
export {
  FollowerProcess,
  followManifestTimes,
  followOnce,
  SqliteWriter,
  type WriterSpec,
  type WriterTxn,
} from './sqlite-follow.js'
export {fingerprint, type StateSpec} from './state.js'
export {cleanupTempDirs, tempDir} from './tmp.js'
