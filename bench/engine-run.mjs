// One core engine operation, for engine.bench.mjs to time (BK_CORE=<a core dist folder> runs another build):
//   copy <src> <dest> [<link-from>]   |   sqlite <src.db> <dest.db>
// Only the module needed is loaded (fs or db).
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

const [mode, a, b, c] = process.argv.slice(2)
const sub = mode === 'sqlite' ? 'db' : 'fs'
const core = process.env.BK_CORE
  ? await import(pathToFileURL(join(process.env.BK_CORE, sub, 'index.js')).href)
  : await import(`@bkcli/core/${sub}`)
if (mode === 'copy') console.log(JSON.stringify(await core.copyTree(a, b, c ? {hardlinkFrom: c} : {})))
else if (mode === 'sqlite') console.log(JSON.stringify(await core.sqliteBackup(a, b)))
else throw new Error(`engine-run: unknown mode ${mode}`)
