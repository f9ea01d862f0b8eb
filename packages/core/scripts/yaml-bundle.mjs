// Writes dist/vendor/yaml.cjs: the yaml package (about 70 CommonJS modules) as one file, bundled at build time, so a
// command that parses YAML (a compose file, a bk.yml) loads one file instead of resolving, reading and compiling each
// module: ~0.01 instead of ~0.11 CPU-s. dist/yaml.js falls back to the package itself when this file is absent
// (sources run by vitest). Same code, same version: the package installed here, bundled as it is.
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

const require = createRequire(import.meta.url)
const pkg = require.resolve('yaml/package.json')
const {version} = JSON.parse(readFileSync(pkg, 'utf8'))
// the package's license (ISC) asks for its notice in every copy: the bundle is one, shipped in core's dist
const license = readFileSync(join(dirname(pkg), 'LICENSE'), 'utf8').trim()
await build({
  entryPoints: [require.resolve('yaml')],
  banner: {js: `/*! yaml ${version} (https://eemeli.org/yaml/), bundled into one file by bk's build.\n${license}\n*/`},
  outfile: fileURLToPath(new URL('../dist/vendor/yaml.cjs', import.meta.url)),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  legalComments: 'inline',
  logLevel: 'warning',
})
