export {IniChain} from './chain.js'
export {IniFile, type IniOptions} from './file.js'
export {escapePercent, interpolate} from './interpolate.js'
export {DEFAULT_SECTION, type IniLine, splitLines} from './parse.js'
