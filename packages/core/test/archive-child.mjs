// A second process for the archive tests: creates (or extracts) an archive and is killed in the middle.
// Imports the built module (run `pnpm --filter @bkcli/core build` first). Reports progress on stdout.
import {checkArchive, createArchive, extractArchive} from '../dist/index.js'
import {createArchiveWithManifest, createBkArchive} from '../dist/manifest/index.js'

const [mode, a, b] = process.argv.slice(2)
const say = (text) => process.stdout.write(`${text}\n`)
let told = false
const onProgress = (bytes) => {
  if (!told && bytes > 8 * 1024 * 1024) {
    told = true
    say('progress')
  }
}
if (mode === 'create') await createArchive({cwd: a, file: b, onProgress})
else if (mode === 'create-bk')
  await createBkArchive({
    cwd: a,
    file: b,
    onProgress,
    meta: {plugin: {name: '@bkcli/test', version: '0'}, application: 'test', kind: 'full', source: a, components: []},
  })
else if (mode === 'create-manifested')
  await createArchiveWithManifest({
    cwd: a,
    file: b,
    onProgress,
    meta: {plugin: {name: '@bkcli/test', version: '0'}, application: 'test', kind: 'full', source: a, components: []},
  })
else if (mode === 'extract') await extractArchive({file: a, target: b, onProgress})
else if (mode === 'check') await checkArchive(a)
say('done')
say(`maxrss ${process.resourceUsage().maxRSS}`)
