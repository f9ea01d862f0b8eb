// manifestForArchive reads plain tar headers itself (node-tar's Parser costs ~35 µs per member) and hands the stream
// to node-tar from the first header it does not model. Whatever the archive, its manifest (or its refusal) must be
// exactly what node-tar's strict Parser alone gives, however the stream is cut into chunks.
import {execFileSync} from 'node:child_process'
import {linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {manifestForArchive} from '../src/manifest/build.js'
import {cleanupTemp, temp, testMeta} from './archive-helpers.js'
import {nodeTarReading} from './tar-members-reference.js'

afterAll(() => cleanupTemp())

/** node-tar's strict Parser alone: the members, or its error's message. */
async function byNodeTar(data: Buffer): Promise<unknown> {
  const {files, failure, sawEnd} = await nodeTarReading(data)
  return failure ? `error: ${failure.message}` : sawEnd ? files : CUT
}

const CUT = 'error: TAR_BAD_ARCHIVE: Truncated input (the tar stream ends without its end-of-archive blocks)'

/** node-tar's counts in a truncation's message depend on how its input was cut into chunks: not compared. */
const counts = (outcome: unknown) =>
  typeof outcome === 'string' ? outcome.replace(/\(needed \d+ more bytes, only \d+ available\)/, '(…)') : outcome

async function byManifest(data: Buffer, step: number): Promise<unknown> {
  const collector = manifestForArchive({...testMeta, created: 'x'})
  try {
    for (let off = 0; off < data.length; off += step) collector.write(data.subarray(off, off + step))
    return (await collector.finish()).files
  } catch (error) {
    return `error: ${(error as Error).message}`
  }
}

function tree(root: string): string {
  const src = join(root, 'src')
  mkdirSync(join(src, 'd/e'), {recursive: true})
  writeFileSync(join(src, 'd/e/f'), 'hello\n')
  writeFileSync(join(src, 'big'), Buffer.alloc(70_000, 7))
  writeFileSync(join(src, 'empty'), '')
  writeFileSync(join(src, 'bk-manifest.json'), '{}')
  linkSync(join(src, 'd/e/f'), join(src, 'hard'))
  linkSync(join(src, 'empty'), join(src, 'hard-empty'))
  symlinkSync('d/e/f', join(src, 'sym'))
  mkdirSync(join(src, Buffer.from('n\xe9', 'latin1').toString('latin1')))
  writeFileSync(join(src, `${'L'.repeat(150)}`), 'long name')
  const deep = join(src, 'p', 'q'.repeat(90), 'r'.repeat(60))
  mkdirSync(deep, {recursive: true})
  writeFileSync(join(deep, 'f'), 'deep')
  return src
}

describe('manifestForArchive reads the tar stream as node-tar does', () => {
  it("gives node-tar's members or refusal for every format, cut, corruption and chunking", async () => {
    const root = temp()
    const src = tree(root)
    const archives: Record<string, Buffer> = {}
    for (const format of ['gnu', 'posix', 'ustar', 'v7']) {
      const file = join(root, `${format}.tar`)
      try {
        execFileSync('tar', [`--format=${format}`, '-cf', file, '-C', src, '.'], {stdio: 'ignore'})
      } catch {} // ustar and v7 refuse the long name: what they wrote is still a stream to read
      archives[format] = readFileSync(file)
    }
    const gnu = archives.gnu as Buffer
    archives['cut in a body'] = gnu.subarray(0, 512 * 9 + 100)
    archives['cut in a header'] = gnu.subarray(0, 512 * 3 + 100)
    archives.empty = Buffer.alloc(0)
    archives['end blocks only'] = Buffer.alloc(1024)
    archives.tiny = gnu.subarray(0, 100)
    for (const at of [0, 512 * 2, 512 * 5]) {
      const flipped = Buffer.from(gnu)
      flipped[at + 20] = (flipped[at + 20] as number) ^ 1
      archives[`bad checksum at ${at}`] = flipped
      const typed = Buffer.from(gnu)
      typed[at + 156] = 0x37 // contiguous file: node-tar's to read
      archives[`type 7 at ${at}`] = typed
    }
    archives['garbage after the end'] = Buffer.concat([gnu, Buffer.from('junk'.repeat(300))])
    for (const [name, data] of Object.entries(archives)) {
      const expected = await byNodeTar(data)
      for (const step of [7, 511, 512, 4096, 65536])
        expect({name, step, got: counts(await byManifest(data, step))}).toEqual({name, step, got: counts(expected)})
    }
    expect(await byNodeTar(gnu)).toContainEqual(expect.objectContaining({path: 'hard'}))
  })
})
