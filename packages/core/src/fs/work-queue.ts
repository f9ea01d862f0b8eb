/**
 * Work started per copied file (its hash, its early fsync), run `concurrency` at a time with at most `limit` started
 * or waiting: {@link WorkQueue.push} returns a promise while the queue is full, which the copy waits for (the copy
 * never gets ahead of the work by more than `limit` files, whatever the tree's size). Holds a count, not a promise
 * per task. After a failure, tasks not yet started are dropped; {@link WorkQueue.settled} still waits for every
 * task that started.
 */
export class WorkQueue {
  private readonly waiting: (() => Promise<unknown>)[] = []
  private running = 0
  private hasFailed = false
  private failure: unknown
  private roomWaiters: (() => void)[] = []
  private idleWaiters: (() => void)[] = []

  constructor(
    private readonly concurrency: number,
    private readonly limit: number,
  ) {}

  /** Whether a task has failed (later pushes are dropped). */
  get failed(): boolean {
    return this.hasFailed
  }

  /** Tasks running or waiting to. */
  get size(): number {
    return this.running + this.waiting.length
  }

  /** Queues a task; returns a promise (never rejecting) when the queue is full, resolved when it has room again. */
  push(task: () => Promise<unknown>): Promise<void> | undefined {
    if (this.hasFailed) return undefined
    this.waiting.push(task)
    this.pump()
    if (this.size < this.limit) return undefined
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve))
  }

  /** Resolves once no task runs or waits (the queue's first failure is not thrown: see {@link done}). */
  settled(): Promise<void> {
    if (this.size === 0) return Promise.resolve()
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve))
  }

  /** Waits until every task has settled, then throws the first failure, if any. */
  async done(): Promise<void> {
    await this.settled()
    if (this.hasFailed) throw this.failure
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const task = this.waiting.shift() as () => Promise<unknown>
      this.running++
      let started: Promise<unknown>
      try {
        started = task()
      } catch (error) {
        started = Promise.reject(error)
      }
      started.then(
        () => this.finish(),
        (error: unknown) => {
          if (!this.hasFailed) {
            this.hasFailed = true
            this.failure = error
          }
          this.waiting.length = 0
          this.finish()
        },
      )
    }
  }

  private finish(): void {
    this.running--
    this.pump()
    if (this.size < this.limit && this.roomWaiters.length > 0) {
      const waiters = this.roomWaiters
      this.roomWaiters = []
      for (const resolve of waiters) resolve()
    }
    if (this.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }
}
