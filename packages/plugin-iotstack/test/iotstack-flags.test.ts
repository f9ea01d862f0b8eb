import {readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {archiveDigests, offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {makeExampleStack} from '../src/example.js'
import {fakeDocker} from './fake-docker.js'

describe('bk iotstack pull --all, verify --from', () => {
  it('pull --all brings back every copy; verify --from checks one on the remote', async () => {
    const targets = offsiteTargets()
    const docker = fakeDocker()
    docker.setUp(true)
    const env = {...targets.env, ...docker.env}
    const stack = join(tempDir('bk-iot-flags-'), 'IOTstack')
    await makeExampleStack(stack, {volumeBytes: 8 * 1024})
    const remote = targets.plain('iot')
    for (let i = 0; i < 2; i++) {
      const argv = ['iotstack', 'backup', stack, '--type', 'dated', '--copy-to', remote, '--allow-unencrypted']
      const r = await runBk(argv, {env})
      expect(r.exitCode, r.stderr).toBe(0)
    }
    const dated = join(stack, 'backups', 'backup')
    const made = archiveDigests(dated)
    expect(Object.keys(made)).toHaveLength(2)
    rmSync(dated, {recursive: true})

    const one = await runBk(['iotstack', 'pull', remote, stack], {env})
    expect(one.exitCode, one.stderr).toBe(0)
    expect(Object.keys(archiveDigests(dated))).toHaveLength(1)
    const all = await runBk(['iotstack', 'pull', remote, stack, '--all'], {env})
    expect(all.exitCode, all.stderr).toBe(0)
    expect(archiveDigests(dated)).toEqual(made)

    const [first] = Object.keys(made)
    const ok = await runBk(['iotstack', 'verify', first!, stack, '--from', remote, '--json'], {env})
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(ok.json<{ok: boolean}>()).toMatchObject({ok: true})
    const copy = readdirSync(join(targets.dir, 'iot'), {recursive: true}).find((n) => String(n).endsWith(first!))
    writeFileSync(join(targets.dir, 'iot', String(copy)), 'damaged')
    const bad = await runBk(['iotstack', 'verify', first!, stack, '--from', remote], {env})
    expect(bad.exitCode).toBe(1)
  })
})
