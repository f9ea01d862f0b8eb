export {KNOWN_PLUGINS, missingPluginHint} from './plugins.js'
