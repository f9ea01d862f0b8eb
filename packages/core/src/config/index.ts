export {booleanWord, CONFIG_ONLY_KEYS, configToArgv, type FlagShape, normalizeBooleanArgv} from './flags.js'
export {type ConfigSections, type LoadedConfig, loadConfigFile} from './load.js'
