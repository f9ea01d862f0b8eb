// Where the archive's sha256 is taken while the compressor writes the file: with the manifest's members read in the
// decode thread (pigz -d fed by the read-back), this thread only relays the bytes, so it hashes them as they are read
// back, and no hashing thread of its own reads the file a second time. The recorded sha256 is the file's either way.
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {join} from 'node:path'
import {afterAll, beforeEach, describe, expect, it, vi} from 'vitest'
import {compressIntoFile} from '../src/archive/to-file.js'
import {growingFileHash} from '../src/fs/hash-thread.js'
import {createArchiveWithManifest} from '../src/manifest/bk-archive.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'
import {makeTree} from './archive-tree.js'

vi.mock('../src/fs/hash-thread.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/fs/hash-thread.js')>()
  return {...actual, growingFileHash: vi.fn(actual.growingFileHash)}
})

afterAll(() => cleanupTemp())
beforeEach(() => {
  vi.mocked(growingFileHash).mockClear()
})

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** Several MiB, half incompressible: the compressor's output spans many read-backs. */
function source(root: string): string {
  const src = join(root, 'src')
  makeTree(src)
  mkdirSync(join(src, 'bulk'))
  for (let i = 0; i < 4; i++) writeFileSync(join(src, 'bulk', `r${i}.bin`), randomBytes(1536 * 1024 + i))
  writeFileSync(join(src, 'bulk', 'log.txt'), 'a line of a log\n'.repeat(200_000))
  return src
}

/** compressIntoFile of `chunks` through gzip, every byte read back handed to `onFile`'s copy. */
async function written(root: string, light: boolean | undefined) {
  const path = join(root, `out-${light}.gz`)
  const handle = await open(path, 'w')
  const seen: Buffer[] = []
  try {
    const chunks = (async function* () {
      for (let i = 0; i < 8; i++) yield randomBytes(512 * 1024)
    })()
    const result = await compressIntoFile(
      path,
      handle,
      {program: 'gzip', args: ['-c', '-1']},
      {kind: 'node', chunks},
      {
        onFile: async (chunk) => {
          seen.push(Buffer.from(chunk))
        },
        ...(light === undefined ? {} : {onFileLight: light}),
      },
    )
    return {result, file: readFileSync(path), seen: Buffer.concat(seen)}
  } finally {
    await handle.close()
  }
}

describe('the read-back hashes the file where the bytes already are', () => {
  it('onFileLight: hashed from the chunks read back, no hashing thread; otherwise a thread hashes', async () => {
    const root = temp()
    const light = await written(root, true)
    expect(growingFileHash).not.toHaveBeenCalled()
    expect(light.result.sha256).toBe(sha256(light.file))
    expect(light.result.bytes).toBe(light.file.length)
    expect(light.seen.equals(light.file)).toBe(true)

    const busy = await written(root, undefined)
    expect(growingFileHash).toHaveBeenCalledTimes(1)
    expect(busy.result.sha256).toBe(sha256(busy.file))
    expect(busy.seen.equals(busy.file)).toBe(true)
  })

  it('a .tar.gz with its manifest (members read in the decode thread): the file hashed without a thread', async () => {
    const root = temp()
    const src = source(root)
    const made = await createArchiveWithManifest({cwd: src, file: join(root, 'm.tar.gz'), meta: testMeta})
    expect(growingFileHash).not.toHaveBeenCalled()
    expect(made.sha256).toBe(sha256(readFileSync(made.file)))
    expect(made.bytes).toBe(readFileSync(made.file).length)
    const log = made.manifest.files.find((f) => f.path === 'bulk/log.txt')
    expect(log?.sha256).toBe(sha256(readFileSync(join(src, 'bulk', 'log.txt'))))
  })
})
