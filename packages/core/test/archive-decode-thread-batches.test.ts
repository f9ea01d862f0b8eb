// The read-back thread (decode-thread-worker.ts) sends its members in small messages: each message's members are
// cloned into the main thread's young generation at once and wait in the thread's heap until sent, so a batch of
// thousands survived scavenges on both sides and V8 grew both young generations with the file count (the peak of a
// 300 000-file archive, +14 MiB). Every member still arrives, once, in the stream's order.
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {Worker} from 'node:worker_threads'
import {afterAll, describe, expect, it} from 'vitest'
import type {MemberRecord, ThreadReply} from '../src/archive/decode-thread-protocol.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(() => cleanupTemp())

const THREAD = new URL('../dist/archive/decode-thread-worker.js', import.meta.url)

/** The thread's member messages for the tar file `file` (a regular file: read to its end as a FIFO would be). */
async function batchesOf(file: string): Promise<MemberRecord[][]> {
  const worker = new Worker(THREAD, {workerData: {state: new SharedArrayBuffer(8)}})
  const batches: MemberRecord[][] = []
  try {
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ThreadReply) => {
        if ('members' in m) batches.push(m.members)
        else if ('done' in m) resolve()
        else if ('error' in m) reject(new Error(m.error.message))
      })
      worker.on('error', reject)
      worker.postMessage({fifo: file})
    })
  } finally {
    await worker.terminate()
  }
  return batches
}

/** A tar (GNU tar, sorted by name) of `count` one-byte files named by `name`, under a fresh folder. */
function tarOf(count: number, name: (i: number) => string): {file: string; names: string[]} {
  const dir = join(temp(), 'src')
  const names: string[] = []
  for (let i = 0; i < count; i++) {
    const path = name(i)
    mkdirSync(join(dir, path, '..'), {recursive: true})
    writeFileSync(join(dir, path), 'x')
    names.push(path)
  }
  const file = join(temp(), 'a.tar')
  execFileSync('tar', ['-C', dir, '--sort=name', '-cf', file, ...names])
  return {file, names}
}

describe('the read-back thread sends its members in small batches', () => {
  it('3000 short names: messages of at most 256 members, every member once, in order', async () => {
    const {file, names} = tarOf(3000, (i) => `f${String(i).padStart(5, '0')}`)
    const batches = await batchesOf(file)
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(256)
    const paths = batches.flat().map((r) => r[0])
    expect(JSON.stringify(paths)).toBe(JSON.stringify(names))
  })

  it('long names: a message holds at most 64 Ki characters of paths (and one member more)', async () => {
    // 200 files of ~600-character paths (GNU long names): 120 000 characters, under 256 members
    const segment = 'd'.repeat(99)
    const {file, names} = tarOf(200, (i) => `${Array(6).fill(segment).join('/')}/f${String(i).padStart(4, '0')}`)
    const batches = await batchesOf(file)
    expect(batches.length).toBeGreaterThanOrEqual(2)
    for (const batch of batches) {
      const chars = batch.reduce((sum, r) => sum + r[0].length, 0)
      expect(chars - (batch.at(-1)?.[0].length ?? 0)).toBeLessThan(64 * 1024)
    }
    expect(JSON.stringify(batches.flat().map((r) => r[0]))).toBe(JSON.stringify(names))
  })
})
