// One bk archive operation, for archive.bench.mjs to time:
//   node archive-run.mjs create <src-dir> <dest-file>   |   node archive-run.mjs extract <file> <target-dir>
// BK_CORE=<a core dist folder> runs another build of core (the bench's "before" column). Only the archive module is
// loaded (what a command that archives has loaded anyway); bk's start-up is a separate row of the issue.
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

const core = process.env.BK_CORE
  ? await import(pathToFileURL(join(process.env.BK_CORE, 'archive/index.js')).href)
  : await import('@bkcli/core/archive')
const [mode, a, b] = process.argv.slice(2)
if (mode === 'create') {
  const result = await core.createArchive({cwd: a, file: b})
  console.log(JSON.stringify({bytes: result.bytes, entries: result.entries}))
} else if (mode === 'extract') {
  const result = await core.extractArchive({file: a, target: b})
  console.log(JSON.stringify(result))
} else throw new Error(`archive-run: unknown mode ${mode}`)
