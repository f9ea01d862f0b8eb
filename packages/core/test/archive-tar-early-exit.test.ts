// GNU tar extracting (gnu-extract.ts) is believed only when it says it read the archive to its end: a tar that exits 0
// early (before reading all of its input, or having written only some members) leaves members out. bk refuses such
// an extraction with a one-line error and leaves nothing (the stage removed).
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, onPath, restorePath, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)
afterEach(restorePath)

/** tar's stand-in: `--version` as the real one (bk asks it: a script is no ELF binary), extracting runs `script`. */
const extracting = (script: string) => `case "$1" in --version) exec "$REAL" "$@";; esac\n${script}`

const STAND_INS = {
  // reads a block of its input and exits 0, having written nothing
  'reads a block and exits 0': 'head -c 512 > /dev/null\nexit 0',
  // extracts the members of the first 20 KiB (the real tar, which then fails on the cut input), and exits 0
  'writes the first members and exits 0': 'head -c 20480 | "$REAL" "$@" 2> /dev/null\nexit 0',
}

function tree(root: string): string {
  const src = join(root, 'src')
  mkdirSync(join(src, 'sub'), {recursive: true})
  for (let i = 0; i < 20; i++) writeFileSync(join(src, 'sub', `f${i}`), Buffer.alloc(4096 + i, i))
  writeFileSync(join(src, 'big'), Buffer.alloc(300 * 1024, 7))
  return src
}

describe('a system tar that exits 0 early', () => {
  for (const suffix of ['tar', 'tar.gz', 'tar.zst']) {
    for (const [what, script] of Object.entries(STAND_INS)) {
      it(`is refused with one line, nothing left (.${suffix}: ${what})`, async () => {
        const root = temp()
        const src = tree(root)
        const file = join(root, `a.${suffix}`)
        await createArchive({cwd: src, file})
        // the real tar extracts it whole
        await extractArchive({file, target: join(root, 'whole')})
        expect(snapshot(join(root, 'whole'))).toEqual(snapshot(src))
        const out = join(root, 'out')
        mkdirSync(out)
        onPath(join(root, 'standin'), {tar: extracting(script)})
        const error = await extractArchive({file, target: join(out, 'x')}).then(
          () => undefined,
          (e: Error) => e,
        )
        expect(error?.message).toMatch(/^extracting .* failed: tar exited 0 .*members may be missing/)
        expect(error?.message).not.toContain('\n')
        expect(readdirSync(out)).toEqual([])
      })
    }
  }
})
