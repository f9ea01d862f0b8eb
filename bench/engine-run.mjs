// One core engine operation, for engine.bench.mjs to time (BK_CORE=<core dist index.js> runs another build):
//   copy <src> <dest> [<link-from>]   |   sqlite <src.db> <dest.db>
import {pathToFileURL} from 'node:url'

const core = process.env.BK_CORE ? await import(pathToFileURL(process.env.BK_CORE).href) : await import('@bkcli/core')
const [mode, a, b, c] = process.argv.slice(2)
if (mode === 'copy') console.log(JSON.stringify(await core.copyTree(a, b, c ? {hardlinkFrom: c} : {})))
else if (mode === 'sqlite') console.log(JSON.stringify(await core.sqliteBackup(a, b)))
else throw new Error(`engine-run: unknown mode ${mode}`)
