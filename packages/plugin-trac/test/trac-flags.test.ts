// trac pull --all fetches every off-site backup not here yet, byte for byte; verify --from checks a copy on the
// remote (and fails for a damaged one). Off-site target: a plain rclone local remote (testkit).
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')
const hashes = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((n) => n.endsWith('.tar.gz'))
      .sort()
      .map((n) => [n, sha(join(dir, n))]),
  )

describe('bk trac pull --all, verify --from', () => {
  it('pull --all brings back every copy; verify --from checks one on the remote', async () => {
    const targets = offsiteTargets()
    const env = join(tempDir('bk-trac-flags-'), 'env')
    await makeExampleEnvironment(env, {tickets: 3, wikiPages: 1, attachments: 1})
    const location = join(env, '..', 'backups')
    const remote = targets.plain('trac')
    for (let i = 0; i < 2; i++) {
      const r = await runBk(['trac', 'backup', env, '--location', location, '--copy-to', remote], {env: targets.env})
      expect(r.exitCode, r.stderr).toBe(0)
    }
    const made = hashes(location)
    expect(Object.keys(made)).toHaveLength(2)
    rmSync(location, {recursive: true})

    const one = await runBk(['trac', 'pull', remote, '--location', location], {env: targets.env})
    expect(one.exitCode, one.stderr).toBe(0)
    expect(Object.keys(hashes(location))).toHaveLength(1)
    const all = await runBk(['trac', 'pull', remote, '--location', location, '--all'], {env: targets.env})
    expect(all.exitCode, all.stderr).toBe(0)
    expect(hashes(location)).toEqual(made)

    const [first] = Object.keys(made)
    const ok = await runBk(['trac', 'verify', first!, '--from', remote, '--json'], {env: targets.env})
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(ok.json<{ok: boolean; artifact: string}>()).toMatchObject({ok: true})
    // the remote copy damaged: verify --from checks the remote, not the local one
    writeFileSync(join(targets.dir, 'trac', first!), 'damaged')
    const bad = await runBk(['trac', 'verify', first!, '--from', remote], {env: targets.env})
    expect(bad.exitCode).toBe(1)
  })
})
