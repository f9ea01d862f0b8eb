// Review of the head hand-off from Roundup's side: its backup (the database snapshot prepended, the home under
// home/ written by GNU tar straight into the compressor) must be a tar that GNU tar itself lists and extracts, the
// home byte for byte, and every manifest hash the sha256 of the file GNU tar extracted.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {lstatSync, mkdirSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {readManifest} from '@bkcli/core'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {backupTracker} from '../src/backup.js'
import {fixtureTree} from './helpers.js'

/** path -> sha256 of every regular file under `root` (symlinks as '-> target'). */
function files(root: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name
    const st = lstatSync(join(root, path))
    if (st.isDirectory()) for (const [k, v] of files(root, path)) out.set(k, v)
    else if (st.isFile())
      out.set(
        path,
        createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex'),
      )
  }
  return out
}

describe('bk roundup backup read by GNU tar', () => {
  it('lists and extracts it; the home byte for byte; every manifest hash is the extracted file', async () => {
    const home = fixtureTree('sqlite-home')
    const {archive} = await backupTracker(home, {location: join(tempDir(), 'b')})
    const listed = execFileSync('tar', ['-tvf', archive], {encoding: 'utf8'})
    expect(listed).toMatch(/ home\/\n/)
    const out = join(tempDir(), 'out')
    mkdirSync(out)
    execFileSync('tar', ['-xf', archive, '-C', out]) // any complaint: non-zero
    const extracted = files(out)
    const manifest = await readManifest(archive)
    expect(manifest.files.length).toBeGreaterThan(0)
    for (const f of manifest.files)
      expect({path: f.path, sha256: extracted.get(f.path)}).toEqual({path: f.path, sha256: f.sha256})
    // the home: every file of the source (but the live database, which the snapshot stands for) as it was
    const source = files(home)
    const got = new Map([...extracted].filter(([k]) => k.startsWith('home/')).map(([k, v]) => [k.slice(5), v]))
    for (const [path, sha] of source)
      if (!path.startsWith('db/')) expect({path, sha: got.get(path)}).toEqual({path, sha})
  })
})
