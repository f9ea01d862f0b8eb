import {existsSync, type Stats} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import {BkError} from '../errors.js'
import {type FileDigest, fileHasher} from '../fs/hash-thread.js'

/**
 * An archive's sha256 taken beside its extraction instead of in its path: the decompressor reads the file itself
 * from {@link HashAside.handle} and another thread hashes the same open file (through /proc/self/fd, so a rename of
 * the path cannot swap it), rather than every compressed byte passing through Node on its way to pigz (a pipe write,
 * a copy and garbage per MiB). Both read one inode; {@link HashAside.verify} also checks that its size and change
 * time did not move while it was read, so the digest covers exactly the bytes that were extracted.
 */
export interface HashAside {
  /** The open archive: give it to the decompressor as its input. */
  handle: FileHandle
  /** Waits for the digest; throws ECORRUPT when it is not `expected` or the file changed while it was read. */
  verify(expected: string): Promise<void>
  /** Closes the file and ends the thread (after verify, or when the extraction failed). */
  close(): Promise<void>
}

/** A {@link HashAside} of `file`, or undefined where /proc/self/fd is missing (then hash in the stream). */
export async function hashAside(file: string): Promise<HashAside | undefined> {
  if (!existsSync('/proc/self/fd')) return undefined
  const handle = await open(file, 'r')
  let before: Stats
  try {
    before = await handle.stat()
  } catch (error) {
    await handle.close()
    throw error
  }
  const hasher = fileHasher()
  const digest: Promise<FileDigest> = hasher.sha256(`/proc/self/fd/${handle.fd}`)
  digest.catch(() => {}) // awaited by verify; a failed extraction closes without it
  let closed = false
  return {
    handle,
    async verify(expected) {
      const {sha256} = await digest
      const after = await handle.stat()
      if (after.size !== before.size || after.ctimeMs !== before.ctimeMs || after.ino !== before.ino)
        throw new BkError(`archive ${file} changed while it was extracted; extract it again`, {code: 'ECORRUPT'})
      if (sha256 !== expected.toLowerCase())
        throw new BkError(`archive ${file} is corrupt: its sha256 is ${sha256}, expected ${expected}`, {
          code: 'ECORRUPT',
        })
    },
    async close() {
      if (closed) return
      closed = true
      await hasher.close()
      await handle.close()
    },
  }
}
