/**
 * The thread of copyTreeInThread (copy-thread.ts): one copyTree, its small files copied with this thread's
 * synchronous calls, while the thread that started it goes on with its own work.
 */
import {parentPort, workerData} from 'node:worker_threads'
// loaded with the thread's own modules, before it is ready: a staged copy's syncTree imports it on first use (sync's
// lookup), and a stop landing in that import left its module files' descriptors open (4 in 60 stops at once)
import '../archive/native.js'
import {messageOf} from '../errors.js'
import {copyTree} from './copy.js'
import {STOPPED_BY_CALLER, type ThreadCopyJob, type ThreadCopyReply, type ThreadCopyResult} from './copy-thread.js'

const job = workerData as ThreadCopyJob
const stopFlag = new Int32Array(job.stop)

/** Asked by copyTree at each entry and before each MiB of a big file: the caller asked the copy to stop. */
const stopped = () => Atomics.load(stopFlag, 0) === 1
const reply = (m: ThreadCopyReply) => parentPort?.postMessage(m)

/** The folders on the way to `paths` ('a', 'a/b' for 'a/b/c'). */
function foldersOf(paths: Iterable<string>): Set<string> {
  const folders = new Set<string>()
  for (const path of paths) {
    for (let slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
      folders.add(path.slice(0, slash))
    }
  }
  return folders
}

/** The copy and its answer. */
async function copy(): Promise<void> {
  try {
    const options = {
      stage: job.stage,
      preserveOwners: job.preserveOwners,
      hardlinkFrom: job.hardlinkFrom,
      laneThreads: job.laneThreads,
      stopped,
    }
    let result: ThreadCopyResult
    if (job.only) {
      const files = new Set(job.only)
      const folders = foldersOf(files)
      const copied = new Set<string>()
      const tree = await copyTree(job.src, job.dest, {
        ...options,
        skip: (path, st) =>
          st.isDirectory() ? !folders.has(path) : !(st.isFile() && st.nlink === 1 && files.has(path)),
        onFile: (path) => {
          copied.add(path)
        },
      })
      result = {...tree, missed: copied.size === files.size ? [] : [...files].filter((path) => !copied.has(path))}
    } else {
      result = {...(await copyTree(job.src, job.dest, options)), missed: []}
    }
    reply({result})
  } catch (error) {
    if (stopped()) return reply({error: STOPPED_BY_CALLER})
    // copyTree wraps a system call's failure in a BkError; the errno code is its cause's
    const code = (error as {cause?: {code?: unknown}} | undefined)?.cause?.code
    reply({error: messageOf(error), ...(typeof code === 'string' ? {code} : {})})
  }
}

// not awaited here: the thread's top level ends once its modules are loaded (its start's ready), the copy goes on
void copy()
