// A digest computed off the main thread (see pump.ts): the bytes stay in a SharedArrayBuffer both threads see;
// a message names a range of it, the reply says that range is hashed (the main thread may reuse it).
import {createHash} from 'node:crypto'
import {parentPort, workerData} from 'node:worker_threads'

const {shared, algorithm} = workerData as {shared: SharedArrayBuffer; algorithm: string}
const hash = createHash(algorithm)
parentPort!.on('message', (m: {offset: number; length: number} | 'digest') => {
  if (m === 'digest') {
    parentPort!.postMessage({digest: hash.digest('hex')})
    return
  }
  hash.update(new Uint8Array(shared, m.offset, m.length))
  parentPort!.postMessage({done: m.offset})
})
