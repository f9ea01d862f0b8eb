/**
 * The thread of `copyTreeInThread` (tree-copy.ts): one core copyTree, its small files copied with this thread's
 * synchronous calls, so the copy goes on while the main thread reads and writes rows.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {copyTree} from '@bkcli/core/fs'
import type {ThreadJob, ThreadReply} from './tree-copy.js'

const job = workerData as ThreadJob
const reply = (m: ThreadReply) => parentPort?.postMessage(m)

try {
  const only = job.only
  const copied: number[] = []
  let bytes = 0
  if (only) {
    const {cls} = only
    const pending = new Set(only.ids)
    const buckets = new Set(only.ids.map((id) => String(Math.floor(id / 1000))))
    // `<bucket>/<class><id>` of one of the ids: its id, else undefined
    const idOf = (path: string): number | undefined => {
      const slash = path.indexOf('/')
      const name = path.slice(slash + 1)
      if (!name.startsWith(cls)) return undefined
      const text = name.slice(cls.length)
      if (!/^[1-9][0-9]*$/.test(text)) return undefined
      const id = Number(text)
      return pending.has(id) && path.slice(0, slash) === String(Math.floor(id / 1000)) ? id : undefined
    }
    await copyTree(job.src, job.dest, {
      stage: job.stage,
      // a bucket folder holding one of the ids; in it, a regular file with one link named for one of them
      skip: (path, st) => {
        if (!path.includes('/')) return !(st.isDirectory() && buckets.has(path))
        return !st.isFile() || st.nlink !== 1 || idOf(path) === undefined
      },
      onFile: (path, _target, size) => {
        const id = idOf(path) as number
        pending.delete(id)
        copied.push(id)
        bytes += size
      },
    })
  } else {
    bytes = (await copyTree(job.src, job.dest, {stage: job.stage})).bytes
  }
  reply({copied, bytes})
} catch (error) {
  reply({error: error instanceof Error ? error.message : String(error)})
}
