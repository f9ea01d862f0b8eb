// One bk archive creation, for archive.bench.mjs to time: node archive-run.mjs <src-dir> <dest-file>
import {createArchive} from '@bkcli/core'

const [src, file] = process.argv.slice(2)
const result = await createArchive({cwd: src, file})
console.log(JSON.stringify({bytes: result.bytes, entries: result.entries}))
