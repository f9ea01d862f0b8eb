import {existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fixtureEnv} from './helpers.js'

// Attachments named in Latin-1 (`caf\xe8`, `caf\xe9`) would share one manifest entry (`caf\uFFFD`): the env's copy
// (core copyTree) refuses them, naming the path with its bytes escaped; nothing is left at the location.
describe('bk trac backup / hotcopy, a file name that is not UTF-8', () => {
  it('is refused in one line naming it, exit 1, no archive, stage or hotcopy left', async () => {
    const env = fixtureEnv('sqlite-env')
    const folder = join(env, 'files', 'attachments', 'wiki', 'Latin')
    mkdirSync(folder, {recursive: true})
    const bytes = Buffer.from(`${folder}/`)
    writeFileSync(Buffer.concat([bytes, Buffer.from('caf'), Buffer.from([0xe8])]), 'A')
    writeFileSync(Buffer.concat([bytes, Buffer.from('caf'), Buffer.from([0xe9])]), 'B')
    const dir = tempDir()
    const location = join(dir, 'backups')
    const r = await runBk(['trac', 'backup', env, '--location', location])
    expect(r.exitCode).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/wiki\/Latin\/caf\\xe[89]: the file name is not valid UTF-8.*rename it.*convmv/)
    expect(existsSync(location) ? readdirSync(location) : []).toEqual([])
    const hot = await runBk(['trac', 'hotcopy', env, join(dir, 'hot')])
    expect(hot.exitCode).toBe(1)
    expect(hot.stderr).toMatch(/^bk: .*wiki\/Latin\/caf\\xe[89]: the file name is not valid UTF-8.*convmv.*\n$/)
    expect(readdirSync(dir)).toEqual(existsSync(location) ? ['backups'] : [])
  })
})
