/**
 * The first script of every file thread startThread starts: it imports the thread's own script (its URL and the
 * ready channel's name are the last two of the thread's argv, taken out again: the script sees the argv and the
 * workerData it would have had), then says on the channel that its modules are loaded. Only then may the thread be
 * terminated without a module file's descriptor left open. A script whose top level throws does not say it: the
 * thread dies with that error, which the main thread gets as the thread's 'error'.
 */
import {fileURLToPath} from 'node:url'
import {BroadcastChannel} from 'node:worker_threads'

const [script, channel] = process.argv.splice(2, 2) as [string, string]
if (script.startsWith('file:')) process.argv[1] = fileURLToPath(script)
await import(script)
const ready = new BroadcastChannel(channel)
ready.postMessage(true)
ready.close()
