/**
 * The thread of copy-lane.ts: copies each batch's files in order, answers with each file's copied size or the first
 * failure; sets folders' metadata. Its reads and metadata calls are copyTree's own (copy-small.ts).
 */
import {closeSync, constants, openSync, writeSync} from 'node:fs'
import {parentPort, workerData} from 'node:worker_threads'
import type {LaneFile} from './copy-lane.js'
import {type DirMeta, readSmall, setDirMeta, setFileMeta} from './copy-small.js'

const {small, slowMs} = workerData as {small: number; slowMs: number}
const port = parentPort as NonNullable<typeof parentPort>
const buffer = Buffer.allocUnsafe(small)
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL

const failed = (id: number, sizes: number[], error: unknown) =>
  port.postMessage({
    id,
    sizes,
    error: {message: String((error as Error | undefined)?.message || error), code: (error as {code?: string})?.code},
  })

function setDirs(id: number, dirs: DirMeta[]): void {
  try {
    for (const d of dirs) setDirMeta(d)
  } catch (error) {
    failed(id, [], error)
    return
  }
  port.postMessage({id, sizes: []})
}

port.on('message', ({id, files, dirs}: {id: number; files?: LaneFile[]; dirs?: DirMeta[]}) => {
  if (dirs) return setDirs(id, dirs)
  const sizes: number[] = []
  let slowOnes = 0
  for (const f of files as LaneFile[]) {
    const started = performance.now()
    try {
      const length = readSmall(f.src, buffer, f.size)
      if (length >= small) {
        sizes.push(-1) // grew since the walk: copied another way
        continue
      }
      const output = openSync(f.dest, CREATE, f.exact ? f.mode : 0o600)
      try {
        for (let w = 0; w < length; ) w += writeSync(output, buffer, w, length - w)
        setFileMeta(output, f.uid, f.gid, f.mode, f.exact, f.atime, f.mtime)
      } finally {
        closeSync(output)
      }
      sizes.push(length)
    } catch (error) {
      failed(id, sizes, error)
      return
    }
    if (performance.now() - started >= slowMs) slowOnes++
  }
  // one slow copy is this thread being preempted on a busy machine; a quarter of the batch is the disk
  port.postMessage({id, sizes, slow: slowOnes * 4 >= (files as LaneFile[]).length})
})
