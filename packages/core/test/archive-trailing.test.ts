// A .tar.gz with bytes after its last gzip member is refused when read (listed, checked, extracted): zlib stops at
// trailing zeros without a word, and gzip and pigz ignore trailing junk, so it would read as the stream it starts with.
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, describe, expect, it} from 'vitest'
import {checkArchive, createArchive, extractArchive, listArchive} from '../src/archive/index.js'
import {cleanupTemp, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

async function listed(file: string): Promise<string[]> {
  const paths: string[] = []
  for await (const e of listArchive(file)) paths.push(e.path)
  return paths
}

describe('a .tar.gz with bytes appended', () => {
  it('is refused as corrupt by listing, checking and extracting; the intact one reads', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    mkdirSync(src)
    writeFileSync(join(src, 'a.txt'), 'hello')
    const good = join(dir, 'good.tar.gz')
    await createArchive({cwd: src, file: good})
    expect(await listed(good)).toEqual(['a.txt'])
    for (const [name, tail] of [
      ['zeros', Buffer.alloc(100)],
      ['zero-led junk', Buffer.concat([Buffer.from([0]), Buffer.from('junk')])],
      ['junk', Buffer.from('trailing garbage')],
    ] as const) {
      const bad = join(dir, `${name}.tar.gz`)
      writeFileSync(bad, Buffer.concat([readFileSync(good), tail]))
      await expect(listed(bad), name).rejects.toMatchObject({code: 'ECORRUPT'})
      await expect(checkArchive(bad), name).rejects.toMatchObject({code: 'ECORRUPT'})
      await expect(extractArchive({file: bad, target: join(dir, `out-${name}`)}), name).rejects.toMatchObject({
        code: 'ECORRUPT',
      })
    }
  })

  it('gzip members one after the other (pigz, cat a.gz b.gz) are still read as one stream', async () => {
    const dir = temp()
    const src = join(dir, 'src')
    mkdirSync(src)
    writeFileSync(join(src, 'a.txt'), 'hello')
    writeFileSync(join(src, 'b.txt'), 'world')
    const plain = join(dir, 'plain.tar')
    await createArchive({cwd: src, file: plain})
    const tar = readFileSync(plain)
    // cut inside a header and inside a body: each piece its own gzip member
    const cuts = [0, 100, 700, tar.length]
    const multi = join(dir, 'multi.tar.gz')
    writeFileSync(multi, Buffer.concat(cuts.slice(1).map((end, i) => gzipSync(tar.subarray(cuts[i], end)))))
    expect(await listed(multi)).toEqual(['a.txt', 'b.txt'])
    expect((await checkArchive(multi)).entries).toBe(2)
    const out = join(dir, 'out')
    await extractArchive({file: multi, target: out})
    expect(readFileSync(join(out, 'b.txt'), 'utf8')).toBe('world')
  })
})
