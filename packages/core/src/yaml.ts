/**
 * The yaml package, loaded on first use. From dist, the one-file build of it made at build time
 * (dist/vendor/yaml.cjs, scripts/yaml-bundle.mjs): loading its ~70 CommonJS modules one by one (each resolved, read
 * and compiled) cost ~0.11 CPU-s on every command that read a YAML file, the one file ~0.01. Where that file is
 * absent (sources run by vitest, a build without it) the package itself: the same code either way.
 */
import {createRequire} from 'node:module'
import type * as Yaml from 'yaml'

let loaded: typeof Yaml | undefined

/** The yaml package (parse, parseDocument, stringify, …), loaded once. */
export function yaml(): typeof Yaml {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  try {
    loaded = require('./vendor/yaml.cjs') as typeof Yaml
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
    loaded = require('yaml') as typeof Yaml
  }
  return loaded
}
