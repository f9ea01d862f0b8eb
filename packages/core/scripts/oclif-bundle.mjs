// Writes dist/vendor/oclif/: @oclif/core (about 65 CommonJS modules and their dependencies) as one ES-module bundle,
// split into an entry per subpath bk imports (the main entry, execute, settings, config, help) over shared chunks, so a
// command loads a handful of files instead of resolving, reading and compiling each module: `bk zodb list` measured
// 0.166 -> 0.103 CPU-s. Every bk import of oclif goes through @bkcli/core/oclif (package.json's exports), so one process
// holds one copy. Same code, same version: the package installed here, bundled as it is.
import {readFileSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

const require = createRequire(import.meta.url)
const pkg = require.resolve('@oclif/core/package.json')
const {version} = JSON.parse(readFileSync(pkg, 'utf8'))
const license = readFileSync(join(dirname(pkg), 'LICENSE'), 'utf8').trim()
process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'

// The subpaths are CommonJS: an ES-module bundle of one exports only its default, so each entry names the exports of
// the subpath as it loads here (the names Node's own ESM-from-CommonJS import would give).
const subpaths = {
  index: '@oclif/core',
  execute: '@oclif/core/execute',
  settings: '@oclif/core/settings',
  config: '@oclif/core/config',
  help: '@oclif/core/help',
}
// The entries are virtual modules (no temporary folder): the bundle names each as `bk-oclif:<name>`, so two builds of
// the same oclif write the same bytes (a temporary folder's random name was written into every entry, changing the
// digest the start-up cache checks on each build and naming the build machine's temporary folder)
const entries = {}
for (const [name, spec] of Object.entries(subpaths)) {
  const names = Object.keys(require(spec)).filter(
    (n) => n !== 'default' && n !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(n),
  )
  entries[name] =
    `import m from ${JSON.stringify(require.resolve(spec))}\n` +
    names.map((n) => `export const ${n} = m[${JSON.stringify(n)}]\n`).join('')
}
const virtual = {
  name: 'bk-oclif-entries',
  setup(b) {
    b.onResolve({filter: /^bk-oclif:/}, (args) => ({
      path: `${args.path.slice('bk-oclif:'.length)}.mjs`,
      namespace: 'bk-oclif',
    }))
    b.onLoad({filter: /.*/, namespace: 'bk-oclif'}, (args) => ({
      contents: entries[args.path.slice(0, -'.mjs'.length)],
      loader: 'js',
      resolveDir: dirname(fileURLToPath(import.meta.url)),
    }))
  },
}
// the chunks' names are their hashes: a build after an oclif upgrade would otherwise leave the old chunks beside the new
// ones, and npm pack would ship them
const outdir = fileURLToPath(new URL('../dist/vendor/oclif', import.meta.url))
rmSync(outdir, {recursive: true, force: true})
{
  const entryPoints = Object.fromEntries(Object.keys(entries).map((name) => [name, `bk-oclif:${name}`]))
  await build({
    entryPoints,
    // CommonJS inside an ES module: `require` of Node's built-ins and oclif's own require.resolve need one, and
    // oclif's fallbacks name __dirname/__filename (only ever reached when no root is given, which bk always gives)
    banner: {
      js:
        `/*! @oclif/core ${version} (https://github.com/oclif/core), bundled by bk's build.\n${license}\n*/\n` +
        "import {createRequire as __bkRequire} from 'node:module';import {fileURLToPath as __bkPath} from 'node:url';" +
        "import {dirname as __bkDir} from 'node:path';const require = __bkRequire(import.meta.url);" +
        'const __filename = __bkPath(import.meta.url);const __dirname = __bkDir(__filename);',
    },
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    // read only to transpile a linked plugin's TypeScript, which bk never does (settings.enableAutoTranspile = false)
    external: ['typescript'],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'inline',
    logLevel: 'warning',
    plugins: [virtual],
  })
}
