import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cleanupTemp, temp} from './archive-helpers.js'

const here = dirname(fileURLToPath(import.meta.url))
const MIB = 1024 * 1024
let src = ''

afterAll(cleanupTemp)
beforeAll(() => {
  // 256 MiB, incompressible: anything that buffers a stream shows up far above the limit
  src = join(temp(), 'src')
  mkdirSync(src)
  for (let i = 0; i < 32; i++) writeFileSync(join(src, `part-${i}.bin`), randomBytes(8 * MIB))
})

/** Peak RSS (MiB) of archive-child.mjs doing one operation. */
function peakRss(args: string[]): number {
  const out = execFileSync(process.execPath, [join(here, 'archive-child.mjs'), ...args]).toString()
  expect(out).toContain('done')
  const kb = Number(/maxrss (\d+)/.exec(out)?.[1])
  return kb / 1024
}

describe('memory stays flat however big the archive (streaming)', () => {
  const LIMIT_MIB = 200 // the target, for a 1 GiB tree; this one is 256 MiB
  for (const ext of ['tar.gz', 'tar.zst']) {
    it(`create, check and extract a 256 MiB .${ext}`, () => {
      const dir = temp()
      const file = join(dir, `big.${ext}`)
      expect(peakRss(['create', src, file])).toBeLessThan(LIMIT_MIB)
      expect(peakRss(['check', file])).toBeLessThan(LIMIT_MIB)
      expect(peakRss(['extract', file, join(dir, 'out')])).toBeLessThan(LIMIT_MIB)
      expect(readdirSync(join(dir, 'out'))).toHaveLength(32)
      expect(execFileSync('sh', ['-c', `cat ${src}/part-7.bin | sha256sum`]).toString()).toBe(
        execFileSync('sh', ['-c', `cat ${dir}/out/part-7.bin | sha256sum`]).toString(),
      )
    })
  }
})
