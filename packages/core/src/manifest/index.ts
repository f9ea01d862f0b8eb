export {type BkArchiveOptions, createArchiveWithManifest, createBkArchive} from './bk-archive.js'
export {
  type ArchiveManifestCollector,
  type BuildManifestOptions,
  buildArchiveManifest,
  buildManifest,
  completeManifest,
  manifestForArchive,
} from './build.js'
export {manifestFileCount, manifestFiles} from './compact-files.js'
export {type PluginIdentity, pluginIdentity} from './identity.js'
export {
  locateManifest,
  type ManifestSource,
  readManifest,
  serializeManifest,
  sidecarPath,
  writeManifest,
  writeManifestText,
  writeSidecar,
} from './io.js'
export {validateManifest} from './schema.js'
export type {TarMemberSink, TarMembersReadElsewhere} from './tar-members.js'
export {
  type Component,
  type DatabaseComponent,
  type FilesComponent,
  MANIFEST_NAME,
  type Manifest,
  type ManifestFile,
  type ManifestMeta,
  type OtherComponent,
  type VerifyResult,
} from './types.js'
export {verifyManifest} from './verify.js'
