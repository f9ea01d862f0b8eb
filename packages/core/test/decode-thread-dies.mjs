// The decode thread (decode-thread-worker.js: its URL in workerData.real) made to die on the way, for
// archive-decode-thread-gone.test.ts: once it has posted its first members (workerData.die 'after-members'), after all of them, before its answer ('at-end'), or with
// the first of them changed (its sha256 zeros: 'lies'), as a thread gone wrong could give them.
import {parentPort, workerData} from 'node:worker_threads'

const post = parentPort.postMessage.bind(parentPort)
parentPort.postMessage = (m) => {
  // every member given, then gone before its answer ('at-end')
  if (workerData.die === 'at-end' && m && ('done' in m || 'error' in m)) process.exit(3)
  if (workerData.die !== 'at-end' && m && 'members' in m) {
    const first = m.members[0]
    if (workerData.die === 'lies' && first?.length === 3) m.members[0] = [first[0], first[1], '0'.repeat(64)]
    post(m)
    // its members on their way first, then the thread ends in the middle of its read
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
    process.exit(3)
  }
  post(m)
}
await import(workerData.real)
