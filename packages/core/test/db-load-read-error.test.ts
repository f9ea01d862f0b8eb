// A dump whose read fails after its first bytes (a failing disk: EIO), while the client is still being started: the
// load's first bytes are read before the client starts (the gzip sniff), so the error may come before the feed is
// under way. It must fail the load as a BkError naming the dump, never go uncaught (a crash of bk).
import {chmodSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it, vi} from 'vitest'
import {loadDump, parseDbUrl} from '../src/db/index.js'

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>()
  return {
    ...actual,
    createReadStream: (path: string, options?: unknown) => {
      if (!String(path).endsWith('failing-disk.sql')) return actual.createReadStream(path, options as never)
      let reads = 0
      return new Readable({
        read() {
          // its first 64 KiB, then the disk fails on the read ahead
          if (reads++ === 0) this.push(Buffer.alloc(64 * 1024, 'SELECT 1;\n'))
          else setImmediate(() => this.destroy(Object.assign(new Error('EIO: i/o error, read'), {code: 'EIO'})))
        },
      })
    },
  }
})

describe('a dump whose read fails after its first bytes', () => {
  it('fails the load as a BkError naming the dump (not an uncaught error)', async () => {
    const dir = tempDir()
    const fake = join(dir, 'psql')
    writeFileSync(fake, '#!/bin/sh\ncat > /dev/null\n')
    chmodSync(fake, 0o755)
    const file = join(dir, 'failing-disk.sql')
    writeFileSync(file, 'x')
    const error = await loadDump(parseDbUrl('postgres://root@127.0.0.1:5432/postgres'), file, {clientPath: fake}).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(error?.name, String(error)).toBe('BkError')
    expect(error?.message).toMatch(/^cannot feed .*failing-disk\.sql to psql: EIO/)
  })
})
