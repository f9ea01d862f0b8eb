// Every backup restores (issue 14): Docker volumes hold absolute symlinks (`localtime -> /etc/localtime`) and links
// that leave the stack; a restore puts them back as links with their text, and still never writes through one.
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {makeExampleStack} from '../src/example.js'
import {fakeDocker} from './fake-docker.js'
import {treeOf} from './tree.js'

async function stackWithLinks(): Promise<string> {
  const dir = join(tempDir('bk-iot-links-'), 'IOTstack')
  await makeExampleStack(dir, {volumeBytes: 16 * 1024})
  symlinkSync('/etc/localtime', join(dir, 'volumes/nodered/data/localtime'))
  symlinkSync('/usr/share/zoneinfo/Europe/Berlin', join(dir, 'volumes/mosquitto/config/timezone'))
  symlinkSync('../../../../../shared/certs', join(dir, 'volumes/mosquitto/config/certs'))
  return dir
}

describe('absolute and outside symlinks in volumes', () => {
  it('backup → verify → restore (fresh folder and over the stack): each link is back with its text', async () => {
    const stack = await stackWithLinks()
    const before = treeOf(stack)
    const docker = fakeDocker()
    const backup = await runBk(['iotstack', 'backup', stack, '--type', 'dated', '--json'], {env: docker.env})
    expect(backup.exitCode).toBe(0)
    const archive = backup.json<{archives: {path: string}[]}>().archives[0]!.path
    const listing = execFileSync('tar', ['-tzvf', archive], {encoding: 'utf8'})
    expect(listing).toContain('volumes/nodered/data/localtime -> /etc/localtime')

    const verify = await runBk(['iotstack', 'verify', archive, stack])
    expect(verify.exitCode).toBe(0)

    const target = join(tempDir('bk-iot-links-target-'), 'IOTstack')
    const fresh = await runBk(['iotstack', 'restore', archive, target, '--yes'], {env: docker.env})
    expect(fresh.stderr).not.toMatch(/bk: (?!warning)/)
    expect(fresh.exitCode).toBe(0)
    expect(readlinkSync(join(target, 'volumes/nodered/data/localtime'))).toBe('/etc/localtime')
    expect(readlinkSync(join(target, 'volumes/mosquitto/config/timezone'))).toBe('/usr/share/zoneinfo/Europe/Berlin')
    expect(readlinkSync(join(target, 'volumes/mosquitto/config/certs'))).toBe('../../../../../shared/certs')
    const restored = treeOf(target)
    delete restored['post_restore.ran']
    expect(restored).toEqual(before)

    const over = await runBk(['iotstack', 'restore', archive, stack, '--yes'], {env: docker.env})
    expect(over.exitCode).toBe(0)
    expect(readlinkSync(join(stack, 'volumes/nodered/data/localtime'))).toBe('/etc/localtime')
  })

  it('an archive that writes THROUGH a symlink is refused, nothing changes and nothing is written outside', async () => {
    const stack = await stackWithLinks()
    const before = treeOf(stack, [])
    const outside = tempDir('bk-iot-links-outside-')
    writeFileSync(join(outside, 'keep.txt'), 'keep')
    const src = tempDir('bk-iot-links-evil-')
    mkdirSync(join(src, 'volumes/lt2'), {recursive: true})
    writeFileSync(join(src, 'volumes/lt2/pwned'), 'pwned')
    symlinkSync(outside, join(src, 'volumes/lt'))
    writeFileSync(join(src, 'docker-compose.yml'), 'services: {}\n')
    const evil = join(src, 'evil.tar.gz')
    // volumes/lt -> <outside>, then volumes/lt/pwned (renamed from lt2 by --transform; no folder entry that would
    // replace the link first)
    execFileSync('tar', [
      '-czf',
      evil,
      '-C',
      src,
      '--no-recursion',
      '--transform',
      's,^volumes/lt2,volumes/lt,',
      'docker-compose.yml',
      'volumes',
      'volumes/lt',
      'volumes/lt2/pwned',
    ])
    expect(execFileSync('tar', ['-tzf', evil], {encoding: 'utf8'})).toContain('volumes/lt/pwned')
    const docker = fakeDocker()
    const verify = await runBk(['iotstack', 'verify', evil, stack])
    expect(verify.exitCode).not.toBe(0)
    expect(`${verify.stdout}${verify.stderr}`).toMatch(/through the symlink volumes\/lt/)
    const result = await runBk(['iotstack', 'restore', evil, stack, '--yes'], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(
      /^bk: .*holds entries bk will not extract \(volumes\/lt\/pwned: is written through the symlink volumes\/lt\)/m,
    )
    expect(readdirSync(outside)).toEqual(['keep.txt'])
    expect(existsSync(join(outside, 'pwned'))).toBe(false)
    expect(treeOf(stack, [])).toEqual(before)
    // refused in the plan: docker was not even asked
    expect(docker.calls()).toEqual([])
  })
})
