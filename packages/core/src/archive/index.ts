export {compressionOf, sniffCompression, zstdAvailable} from './compression.js'
export {createArchive} from './create.js'
export type {EntryCheckOptions} from './entry-check.js'
export {extractArchive} from './extract.js'
export {
  type CheckArchiveOptions,
  checkArchive,
  listArchive,
  type ReadMemberOptions,
  readArchiveMember,
} from './read.js'
export type {
  ArchiveEntry,
  ArchiveResult,
  CheckResult,
  Compression,
  CreateArchiveOptions,
  ExtractOptions,
  ExtractResult,
  PrependMember,
} from './types.js'
