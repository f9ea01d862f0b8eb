// Which modules a bk process loaded: an ESM load hook (module.register, preloaded with --import) and, at exit, the
// CommonJS require.cache, both appended to the file named by MODULE_PROBE_OUT (not a variable the start-up cache keys on).
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {tempDir} from '@bkcli/testkit'

export interface ModuleProbe {
  /** NODE_OPTIONS that preload the probe. */
  nodeOptions: string
  /** A fresh output file for one run. */
  out(): string
  /** The files (paths, node: builtins as such) that run loaded. */
  loaded(out: string): string[]
}

export function moduleProbe(): ModuleProbe {
  const dir = tempDir('bk-probe-')
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import {appendFileSync} from 'node:fs'
export async function load(url, context, next) {
  if (process.env.MODULE_PROBE_OUT) appendFileSync(process.env.MODULE_PROBE_OUT, url + '\\n')
  return next(url, context)
}
`,
  )
  writeFileSync(
    join(dir, 'probe.mjs'),
    `import {register, createRequire} from 'node:module'
import {appendFileSync} from 'node:fs'
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})
const require = createRequire(import.meta.url)
process.on('exit', () => {
  const files = Object.keys(require.cache)
  if (process.env.MODULE_PROBE_OUT) appendFileSync(process.env.MODULE_PROBE_OUT, files.join('\\n') + '\\n')
})
`,
  )
  let n = 0
  return {
    nodeOptions: `--import=${pathToFileURL(join(dir, 'probe.mjs')).href}`,
    out: () => join(dir, `out-${++n}.txt`),
    loaded(out) {
      return readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (line.startsWith('file://') ? decodeURIComponent(new URL(line).pathname) : line))
    },
  }
}

/**
 * @oclif/core as bk loads it: @bkcli/core's one-file build of it (dist/vendor/oclif/, scripts/oclif-bundle.mjs), in the
 * workspace or installed.
 */
export const OCLIF_BUNDLE = /(?:[\\/]packages[\\/]core|@bkcli[\\/]core)[\\/]dist[\\/]vendor[\\/]oclif[\\/]/

/**
 * The packages among `files` (node_modules/<name> or node_modules/@scope/<name>), once each, sorted. The bundled
 * @oclif/core counts as '@oclif/core': the same code, loaded from @bkcli/core.
 */
export function packagesOf(files: string[]): string[] {
  const names = files.map((file) =>
    OCLIF_BUNDLE.test(file) ? '@oclif/core' : /.*node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file)?.[1],
  )
  return [...new Set(names.filter(Boolean) as string[])].map((name) => name.replace('\\', '/')).sort()
}

/** Files of @bkcli/core's own code among `files` (its dist/, but the bundled @oclif/core). */
export function coreFiles(files: string[]): string[] {
  return files.filter(
    (file) => /[\\/]packages[\\/]core[\\/]dist[\\/]|@bkcli[\\/]core[\\/]/.test(file) && !OCLIF_BUNDLE.test(file),
  )
}
