// md5 (required by repozo's .dat) is the slowest step of a full backup (~3 s/GiB here, more than the copy
// itself). Hashing in a worker thread lets it run beside the read/parse/write on the main thread. At most
// `window` chunks are in flight, so memory stays bounded when the disk is faster than the hash.
import {Worker} from 'node:worker_threads'

const WORKER = `
const {parentPort} = require('node:worker_threads')
const hash = require('node:crypto').createHash('md5')
parentPort.on('message', (m) => {
  if (m === null) parentPort.postMessage(hash.digest('hex'))
  else {
    hash.update(m)
    parentPort.postMessage(1)
  }
})
`

export class ParallelMd5 {
  private readonly worker = new Worker(WORKER, {eval: true})
  private inFlight = 0
  private waiters: (() => void)[] = []
  private failure: Error | undefined
  private digestWaiter: ((hex: string) => void) | undefined

  constructor(private readonly window = 8) {
    this.worker.on('message', (m: number | string) => {
      if (typeof m === 'string') {
        this.digestWaiter?.(m)
        return
      }
      this.inFlight--
      this.waiters.shift()?.()
    })
    this.worker.on('error', (e) => {
      this.failure = e
      for (const w of this.waiters.splice(0)) w()
    })
  }

  /** Queues a chunk (copied to the worker); resolves once there is room for another. */
  async update(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure
    this.worker.postMessage(chunk)
    this.inFlight++
    while (this.inFlight >= this.window && !this.failure) await new Promise<void>((r) => this.waiters.push(r))
    if (this.failure) throw this.failure
  }

  async digest(): Promise<string> {
    if (this.failure) throw this.failure
    const hex = await new Promise<string>((resolve) => {
      this.digestWaiter = resolve
      this.worker.postMessage(null)
    })
    await this.worker.terminate()
    return hex
  }

  /** Stops the worker without a result (on failure paths). */
  async close(): Promise<void> {
    await this.worker.terminate()
  }
}
