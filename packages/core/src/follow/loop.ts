// The stop-and-wait part every follower's service loop shares (zodb's, SQLite's): a pause between polls that a
// stop request (SIGTERM/SIGINT through onStopRequest) cuts short, and the reason the loop stopped.

/** A follower's stop request and its interruptible pause between polls. */
export class StopSignal {
  private reason?: string
  private wake?: () => void

  /** Why the loop was asked to stop (the signal's name), or undefined while it runs. */
  get stopping(): string | undefined {
    return this.reason
  }

  /** Ask the loop to stop: the current pause ends at once; the first reason given is kept. */
  stop(reason: string): void {
    this.reason ??= reason
    this.wake?.()
  }

  /** Wait `ms`, or less when stop() is called meanwhile. */
  async pause(ms: number): Promise<void> {
    if (this.reason) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(t)
        resolve()
      }
    })
    this.wake = undefined
  }
}
