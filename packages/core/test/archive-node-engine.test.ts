// The extract safety and stream tests once more with the JavaScript engine forced (BK_ARCHIVE_ENGINE=node): it is
// what runs where GNU tar is missing, into a folder with content and with --strip, so both engines stay proven.
import {afterAll} from 'vitest'

const saved = process.env.BK_ARCHIVE_ENGINE
process.env.BK_ARCHIVE_ENGINE = 'node'
afterAll(() => {
  if (saved === undefined) delete process.env.BK_ARCHIVE_ENGINE
  else process.env.BK_ARCHIVE_ENGINE = saved
})
await import('./archive-safety.test.js')
await import('./archive-extract-stream.test.js')
