export {type CopyTreeOptions, type CopyTreeResult, copyTree} from './copy.js'
export {copyLiveFile} from './copy-file.js'
export {
  copyTreeInThread,
  type ThreadCopy,
  type ThreadCopyOptions,
  type ThreadCopyResult,
  type ThreadCopyStop,
} from './copy-thread.js'
export {fsyncTree, syncTree} from './fsync-tree.js'
export {hashStream, md5File, type RangeOptions, sha256File} from './hash.js'
export {type FileDigest, type FileHasher, fileHasher} from './hash-thread.js'
export {dirSize, fsyncDir, fsyncPath, isEmptyDir, isInside, pathExists, resolveReal, sameOrInside} from './paths.js'
export {type StartedThread, type StartThreadOptions, startThread, threadExecArgv} from './start-thread.js'
export {compareNames, type WalkEntry, type WalkOptions, walk} from './walk.js'
export {WorkQueue} from './work-queue.js'
export {fileSink, WRITE_PIECE, writeAll, writeAllSync} from './write-all.js'
