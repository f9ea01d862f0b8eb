import {createHash, randomBytes} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {hashAside} from '../src/archive/hash-aside.js'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

function tree(): string {
  const root = join(temp(), 'src')
  mkdirSync(join(root, 'd'), {recursive: true})
  writeFileSync(join(root, 'd', 'big.bin'), randomBytes(3 * 1024 * 1024 + 5))
  writeFileSync(join(root, 'small.txt'), 'small\n')
  return root
}

describe("a gzip archive's sha256 hashed beside the extraction (pigz reads the file itself)", () => {
  it('the right sha256 extracts every byte; a wrong one is corrupt in one line and leaves no target', async () => {
    const src = tree()
    const file = join(temp(), 'a.tar.gz')
    await createArchive({cwd: src, file})
    const good = join(temp(), 'good')
    await extractArchive({file, target: good, sha256: sha256(file).toUpperCase()})
    expect(snapshot(good)).toEqual(snapshot(src))
    const bad = join(temp(), 'bad')
    const wrong = createHash('sha256').update('another archive').digest('hex')
    const failure = await extractArchive({file, target: bad, sha256: wrong}).then(
      () => undefined,
      (error: Error & {code?: string}) => error,
    )
    expect(failure?.code).toBe('ECORRUPT')
    expect(failure?.message).toBe(`archive ${file} is corrupt: its sha256 is ${sha256(file)}, expected ${wrong}`)
    expect(existsSync(bad)).toBe(false)
  })

  it('an archive written to while it is read is refused, even when its digest would match', async () => {
    const file = join(temp(), 'grows.tar.gz')
    writeFileSync(file, randomBytes(2 * 1024 * 1024))
    const aside = await hashAside(file)
    expect(aside).toBeDefined()
    if (!aside) return
    try {
      const expected = sha256(file)
      appendFileSync(file, 'more') // after the thread may have read it all: the size and change time tell
      await expect(aside.verify(expected)).rejects.toThrow(/changed while it was extracted/)
    } finally {
      await aside.close()
    }
  })
})
