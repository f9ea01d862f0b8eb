/** Overlapping a tracker copy's reads, conversions and writes, in order and bounded. */

/** Async jobs run one at a time in order, each while the caller prepares the next; a failure is rethrown. */
export class Pipeline {
  private last: Promise<void> = Promise.resolve()
  /** Waits for the previous job (one in flight at most), then starts `job` without waiting for it. */
  async add(job: () => Promise<void>): Promise<void> {
    await this.last
    const p = job()
    p.catch(() => {}) // observed by the next add() or drain()
    this.last = p
  }
  async drain(): Promise<void> {
    await this.last
  }
}

const READ_AHEAD = 16

/** load() of each item in order, at most READ_AHEAD started ahead of the one next() returns. */
export function readAhead<T, R>(items: T[], load: (item: T) => Promise<R>): {next: () => Promise<R>} {
  const started: Promise<R>[] = []
  let taken = 0
  const top = () => {
    while (started.length < items.length && started.length - taken < READ_AHEAD) {
      const p = load(items[started.length] as T)
      p.catch(() => {}) // rethrown by next()
      started.push(p)
    }
  }
  return {
    next: () => {
      top()
      const p = started[taken] as Promise<R>
      started[taken] = undefined as unknown as Promise<R> // release the bytes once handed out
      taken++
      top()
      return p
    },
  }
}
