// feedTar stops reading the archive at the sink's first error: a sink that failed (a full disk under node-tar's
// unpacker) still takes writes without pushing back, and the rest of a large archive would be read and decompressed
// for nothing before the error reached the user.

import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {feedTar} from '../src/archive/drive.js'
import {nodeTar} from '../src/archive/tar-lib.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

describe('feedTar', () => {
  it('rejects with the sink’s first error without reading the rest of the archive', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    mkdirSync(src)
    for (let i = 0; i < 16; i++) writeFileSync(join(src, `f${i}`), randomBytes(2 << 20))
    const file = join(dir, 'a.tar')
    execFileSync('tar', ['-cf', file, '-C', src, '.'])
    const size = statSync(file).size

    const sink = new (nodeTar().Parser)()
    let failed = false
    sink.on('entry', (entry) => {
      entry.resume()
      if (entry.type === 'File' && !failed) {
        failed = true
        sink.emit('error', Object.assign(new Error('no space left on device'), {code: 'ENOSPC'}))
      }
    })
    let read = 0
    const error = await feedTar(file, sink, undefined, (chunk) => {
      read += chunk.length
    }).catch((e: unknown) => e as NodeJS.ErrnoException)

    expect(error).toBeInstanceOf(Error)
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC')
    // the first file's block and the read-ahead, not the 32 MiB behind them
    expect(read).toBeGreaterThan(0)
    expect(read).toBeLessThan(size / 4)
  })
})
