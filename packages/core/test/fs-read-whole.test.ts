// readWholeFile: a file's bytes into one buffer reused from file to file (a restore reads thousands of segments).

import {randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {readAt, readWholeFile, reusedBuffer} from '../src/fs/read-whole.js'

describe('readWholeFile', () => {
  it('reads each file whole into the one buffer it is given, grown only when a file is larger', async () => {
    const dir = tempDir()
    const bodies = [randomBytes(300_000), randomBytes(1000), Buffer.alloc(0), randomBytes(500_000)]
    for (const [i, b] of bodies.entries()) writeFileSync(join(dir, String(i)), b)
    const into = reusedBuffer(300_000)
    const read = []
    for (let i = 0; i < bodies.length; i++) {
      const data = await readWholeFile(join(dir, String(i)), into)
      expect(data.equals(bodies[i]!)).toBe(true)
      read.push(data.buffer)
    }
    // the first three in the same memory, the last (larger) in a new one
    expect([read[1] === read[0], read[2] === read[0], read[3] === read[0]]).toEqual([true, true, false])
    // without a buffer: a new one
    expect((await readWholeFile(join(dir, '1'))).equals(bodies[1]!)).toBe(true)
  })

  it('readAt fills the buffer from a position, or reads up to the end', async () => {
    const dir = tempDir()
    const body = randomBytes(10_000)
    writeFileSync(join(dir, 'f'), body)
    const fh = await open(join(dir, 'f'), 'r')
    try {
      const buf = Buffer.alloc(4000)
      expect(await readAt(fh, buf, 3000)).toBe(4000)
      expect(buf.equals(body.subarray(3000, 7000))).toBe(true)
      expect(await readAt(fh, buf, 8000)).toBe(2000)
      expect(buf.subarray(0, 2000).equals(body.subarray(8000))).toBe(true)
    } finally {
      await fh.close()
    }
  })
})
