export {type CopyTreeOptions, type CopyTreeResult, copyTree} from './copy.js'
export {hashStream, md5File, type RangeOptions, sha256File} from './hash.js'
export {dirSize, fsyncDir, fsyncPath, isEmptyDir, isInside, pathExists, resolveReal, sameOrInside} from './paths.js'
export {compareNames, type WalkEntry, type WalkOptions, walk} from './walk.js'
