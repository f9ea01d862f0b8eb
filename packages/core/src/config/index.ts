export {CONFIG_ONLY_KEYS, configToArgv, type FlagShape} from './flags.js'
export {type ConfigSections, type LoadedConfig, loadConfigFile} from './load.js'
