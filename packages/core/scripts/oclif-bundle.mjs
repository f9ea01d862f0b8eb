// Writes dist/vendor/oclif/: @oclif/core (about 65 CommonJS modules and their dependencies) as one ES-module bundle,
// split into an entry per subpath bk imports (the main entry, execute, settings, config, help) over shared chunks, so a
// command loads a handful of files instead of resolving, reading and compiling each module: `bk zodb list` measured
// 0.166 -> 0.103 CPU-s. Every bk import of oclif goes through @bkcli/core/oclif (package.json's exports), so one process
// holds one copy. Same code, same version: the package installed here, bundled as it is.
import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'
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
  const {metafile} = await build({
    entryPoints,
    // CommonJS inside an ES module: `require` of Node's built-ins and oclif's own require.resolve need one, and
    // oclif's fallbacks name __dirname/__filename (only ever reached when no root is given, which bk always gives)
    banner: {
      js:
        `/*! @oclif/core ${version} (https://github.com/oclif/core), bundled by bk's build; the licences of every package\n` +
        `bundled here are in THIRD-PARTY-LICENSES.txt beside this file.\n${license}\n*/\n` +
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
    metafile: true,
    plugins: [virtual],
  })
  writeFileSync(join(outdir, 'THIRD-PARTY-LICENSES.txt'), thirdPartyLicenses(Object.keys(metafile.inputs)))
}

/**
 * The notices of every package whose code went into the bundle (oclif's dependencies too: ansis, ejs, semver, …).
 * Their licences (MIT, ISC, Apache-2.0, BSD) ask that the notice travel with every copy, and the bundle is one.
 * Sorted by name, no paths: the same text on every build.
 */
function thirdPartyLicenses(inputs) {
  const packages = new Map()
  for (const input of inputs) {
    if (input.startsWith('bk-oclif:')) continue
    const root = packageRoot(resolve(input))
    if (!root) continue
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    packages.set(`${manifest.name}@${manifest.version}`, {root, manifest})
  }
  const sections = [...packages.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, {root, manifest}]) => {
      const file = readdirSync(root)
        .filter((name) => /^(licen[sc]e|copying)(\b|[.-])/i.test(name))
        .sort()[0]
      const text = file ? readFileSync(join(root, file), 'utf8').trim() : `License: ${licenseName(manifest)}`
      const home = manifest.homepage ?? repository(manifest)
      return `${id}${home ? ` (${home})` : ''}\nLicense: ${licenseName(manifest)}\n\n${text}\n`
    })
  return `Packages bundled into this folder by bk's build (scripts/oclif-bundle.mjs of @bkcli/core), with their licences.\n\n${sections.join('\n---\n\n')}`
}

/** The folder of the package holding `file`: the nearest one up with a package.json that has a name. */
function packageRoot(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name) return dir
  }
  return undefined
}

function licenseName(manifest) {
  const license = manifest.license ?? manifest.licenses
  if (typeof license === 'string') return license
  if (Array.isArray(license)) return license.map((l) => l.type ?? l).join(' OR ')
  return license?.type ?? 'see the package'
}

function repository(manifest) {
  const repo = manifest.repository
  return typeof repo === 'string' ? repo : repo?.url
}
