export {CONFIG_ONLY_KEYS, configToArgv, type FlagShape} from './flags.js'
export {type ConfigSections, DEFAULT_CONFIG_FILE, type LoadedConfig, loadConfigFile} from './load.js'
