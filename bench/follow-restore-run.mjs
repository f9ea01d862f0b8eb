// One restore from an SQLite follow location, for follow-restore.bench.mjs to time:
//   node follow-restore-run.mjs <location> <dest-db>
// BK_CORE=<a core dist folder> runs another build of core (the bench's "before" column). Only the follow module is
// loaded (what `bk trac restore` runs on a follow location); bk's start-up is a separate row of the issue.
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

const core = process.env.BK_CORE
  ? await import(pathToFileURL(join(process.env.BK_CORE, 'follow/index.js')).href)
  : await import('@bkcli/core/follow')
const [location, db] = process.argv.slice(2)
const result = await (await core.SqliteFollowRestore.open(location, {db})).run()
console.log(JSON.stringify({commits: result.commits, integrity: result.integrity}))
