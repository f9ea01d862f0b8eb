// roundup backup --description: the note is stored in the archive's manifest (read back by bk roundup list,
// which reads it from the archive) and nowhere else changes.
import {execFileSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fixtureTree} from './helpers.js'

describe('bk roundup backup flags', () => {
  it('--description is stored in the manifest and shown by list', async () => {
    const home = fixtureTree('sqlite-home')
    const location = join(tempDir('bk-roundup-desc-'), 'backups')
    const note = 'before the 2.6 upgrade, ticket #42'
    const r = await runBk(['roundup', 'backup', home, '--location', location, '--description', note])
    expect(r.exitCode, r.stderr).toBe(0)
    const [archive] = readdirSync(location).filter((n) => n.endsWith('.tar.gz'))
    const manifest = JSON.parse(
      execFileSync('tar', ['-xzOf', join(location, archive!), 'bk-manifest.json'], {encoding: 'utf8'}),
    ) as {description?: string}
    expect(manifest.description).toBe(note)
    const list = await runBk(['roundup', 'list', '--location', location, '--json'])
    expect(list.exitCode, list.stderr).toBe(0)
    expect(JSON.stringify(list.json())).toContain(note)
  })
})
