import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {createArchive, extractArchive} from '../src/archive/index.js'
import {cleanupTemp, snapshot, temp} from './archive-helpers.js'

afterAll(cleanupTemp)

const VARIABLES = {
  // each would make tar or pigz write or extract something other than what bk asked for
  TAR_OPTIONS: '--transform=s,^,moved/, --strip-components=1',
  PIGZ: '-z',
  GZIP: '--fast',
}
const saved = Object.fromEntries(Object.keys(VARIABLES).map((name) => [name, process.env[name]]))
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

/** The member names of a .tar.gz as GNU tar lists them in a clean environment. */
function members(file: string): string[] {
  const env = {...process.env}
  for (const name of Object.keys(VARIABLES)) delete env[name]
  return execFileSync('tar', ['-tzf', file], {env, encoding: 'utf8'}).trim().split('\n').sort()
}

describe('option variables of the user’s environment (TAR_OPTIONS, PIGZ, GZIP) do not reach tar or pigz', () => {
  it('an archive is written and extracted as without them', async () => {
    const src = join(temp(), 'src')
    mkdirSync(join(src, 'd'), {recursive: true})
    writeFileSync(join(src, 'd', 'f.txt'), 'inside\n')
    writeFileSync(join(src, 'top.txt'), 'top\n')
    Object.assign(process.env, VARIABLES)
    const file = join(temp(), 'a.tar.gz')
    await createArchive({cwd: src, file})
    expect(members(file).filter((name) => !name.startsWith('.bk'))).toEqual(['d/', 'd/f.txt', 'top.txt'])
    const out = join(temp(), 'out')
    await extractArchive({file, target: out})
    expect(snapshot(out)).toEqual(snapshot(src))
  })
})
