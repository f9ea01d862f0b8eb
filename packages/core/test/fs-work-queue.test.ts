import {describe, expect, it} from 'vitest'
import {WorkQueue} from '../src/fs/work-queue.js'

/** A task that records how many run at once and ends when its gate is opened. */
function gated(log: {running: number; peak: number; ended: number[]}, id: number, fail = false) {
  let open!: () => void
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const task = async () => {
    log.running++
    log.peak = Math.max(log.peak, log.running)
    await gate
    log.running--
    log.ended.push(id)
    if (fail) throw new Error(`task ${id} failed`)
  }
  return {task, open}
}

describe('WorkQueue', () => {
  it('runs at most `concurrency` tasks and makes the producer wait once `limit` are queued', async () => {
    const log = {running: 0, peak: 0, ended: [] as number[]}
    const queue = new WorkQueue(2, 4)
    const tasks = Array.from({length: 6}, (_, i) => gated(log, i))
    const waits = tasks.map(({task}) => queue.push(task))
    // the first three fit (size < limit after each push), the fourth and later find the queue full
    expect(waits.map((wait) => wait !== undefined)).toEqual([false, false, false, true, true, true])
    expect(log.running).toBe(2)
    for (const {open} of tasks) open()
    await queue.done()
    expect(log.peak).toBe(2)
    expect(log.ended.sort()).toEqual([0, 1, 2, 3, 4, 5])
    expect(queue.size).toBe(0)
  })

  it('after a failure drops the tasks not started, waits for the started ones and throws the first failure', async () => {
    const log = {running: 0, peak: 0, ended: [] as number[]}
    const queue = new WorkQueue(2, 10)
    const first = gated(log, 0, true)
    const slow = gated(log, 1)
    const never = gated(log, 2)
    queue.push(first.task)
    queue.push(slow.task)
    queue.push(never.task)
    first.open()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(queue.failed).toBe(true)
    expect(queue.push(async () => log.ended.push(99))).toBeUndefined()
    let finished = false
    const done = queue.done().finally(() => {
      finished = true
    })
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(finished).toBe(false) // task 1 still runs: nothing may be removed under it
    slow.open()
    await expect(done).rejects.toThrow('task 0 failed')
    expect(log.ended).toEqual([0, 1])
  })

  it('a task that throws synchronously counts as a failure', async () => {
    const queue = new WorkQueue(1, 1)
    queue.push(() => {
      throw new Error('at once')
    })
    await expect(queue.done()).rejects.toThrow('at once')
  })
})
