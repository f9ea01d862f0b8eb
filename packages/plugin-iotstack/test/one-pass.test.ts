import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixturePath, runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {StackRestore} from '../src/restore.js'
import {fakeDocker, fixtureStack, treeOf, without} from './helpers.js'

// `restore --yes` (or IOTstack's noask) asks nothing between the plan and the act: the archive is then read once,
// every entry checked on its way into the folder beside the stack. These tests hold that one pass to the same
// refusals as the check-first plan, and to the same bytes.

function newestArchive(dir: string): string {
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.tar.gz'))
    .sort()
  return join(dir, names.at(-1)!)
}

/** An archive whose volumes/lt is a symlink out of the stack and volumes/lt/pwned a file written through it. */
function throughSymlink(dir: string, outside: string): string {
  const src = join(dir, 'src')
  mkdirSync(join(src, 'volumes/lt2'), {recursive: true})
  writeFileSync(join(src, 'docker-compose.yml'), 'services: {}\n')
  symlinkSync(outside, join(src, 'volumes/lt'))
  writeFileSync(join(src, 'volumes/lt2/pwned'), 'pwned\n')
  const evil = join(dir, 'evil.tar.gz')
  execFileSync('tar', [
    '-czf',
    evil,
    '-C',
    src,
    '--transform',
    's,^volumes/lt2,volumes/lt,',
    'docker-compose.yml',
    'volumes',
    'volumes/lt',
    'volumes/lt2/pwned',
  ])
  return evil
}

describe('bk iotstack restore in one pass (nothing asked between plan and act)', () => {
  it('plan() without checkFirst reads no entry; run() refuses the hostile one, the stack untouched', async () => {
    const stack = fixtureStack()
    const before = treeOf(stack, [])
    const dir = tempDir()
    const outside = join(dir, 'outside')
    mkdirSync(outside)
    const evil = throughSymlink(dir, outside)
    const checkFirst = await StackRestore.open(evil, stack)
    await expect(checkFirst.plan()).rejects.toThrow(/holds entries bk will not extract/)
    const onePass = await StackRestore.open(evil, stack, {checkFirst: false})
    const plan = await onePass.plan()
    expect(plan.steps[0]).toMatchObject({op: 'check'})
    await expect(onePass.run()).rejects.toThrow(
      /holds entries bk will not extract \(volumes\/lt\/pwned: is written through the symlink volumes\/lt\); nothing was changed/,
    )
    expect(readdirSync(outside)).toEqual([])
    expect(treeOf(stack, [])).toEqual(before)
  })

  it('a bk archive whose bytes differ from its manifest is refused by the one pass; nothing changed', async () => {
    const stack = fixtureStack()
    expect((await runBk(['iotstack', 'backup', stack, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const archive = newestArchive(join(stack, 'backups/backup'))
    const before = treeOf(stack, [])
    // another archive, valid gzip and a valid stack, under the first one's manifest
    const dir = tempDir()
    const swapped = join(dir, 'backup.tar.gz')
    copyFileSync(fixturePath('iotstack', 'archives', 'backup_6.tar.gz'), swapped)
    copyFileSync(`${archive}.bk.json`, `${swapped}.bk.json`)
    const docker = fakeDocker()
    docker.setUp(true)
    const result = await runBk(['iotstack', 'restore', swapped, stack, '--yes'], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/^bk: .*does not match its manifest \(sha256 differs\)/m)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(treeOf(stack, [])).toEqual(before)
    expect(docker.sequence()).not.toContain('compose down')
    const restore = await StackRestore.open(swapped, stack, {checkFirst: false})
    await restore.plan()
    await expect(restore.run()).rejects.toThrow(/does not match its manifest/)
    expect(treeOf(stack, [])).toEqual(before)
  })

  it('a manifest whose archive sha256 is empty is refused by the one pass, as by the check-first plan', async () => {
    const stack = fixtureStack()
    expect((await runBk(['iotstack', 'backup', stack, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const archive = newestArchive(join(stack, 'backups/backup'))
    const before = treeOf(stack, [])
    const copy = join(tempDir(), 'backup.tar.gz')
    copyFileSync(archive, copy)
    const manifest = JSON.parse(readFileSync(`${archive}.bk.json`, 'utf8'))
    manifest.extra.archive.sha256 = ''
    writeFileSync(`${copy}.bk.json`, JSON.stringify(manifest))
    const checkFirst = await StackRestore.open(copy, stack)
    await expect(checkFirst.plan()).rejects.toThrow(/does not match its manifest/)
    const docker = fakeDocker()
    docker.setUp(true)
    const result = await runBk(['iotstack', 'restore', copy, stack, '--yes'], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/^bk: .*does not match its manifest \(sha256 differs\)/m)
    expect(treeOf(stack, [])).toEqual(before)
    expect(docker.sequence()).not.toContain('compose down')
  })

  it('an archive swapped after a check-first plan (while the question waits, or by a hook) is refused', async () => {
    const stack = fixtureStack()
    expect((await runBk(['iotstack', 'backup', stack, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const archive = newestArchive(join(stack, 'backups/backup'))
    const before = treeOf(stack)
    const restore = await StackRestore.open(archive, stack)
    await restore.plan()
    // another archive, valid gzip and a valid stack, now under the name the plan checked
    copyFileSync(fixturePath('iotstack', 'archives', 'backup_6.tar.gz'), archive)
    await expect(restore.run()).rejects.toThrow(/does not match its manifest \(sha256 differs\)/)
    expect(treeOf(stack)).toEqual(before)
    expect(readdirSync(stack).filter((n) => n.includes('.bk-'))).toEqual([])
  })

  it('restores the same bytes, owners and modes as the check-first path, and counts the same entries', async () => {
    const stack = fixtureStack()
    const before = treeOf(stack)
    expect((await runBk(['iotstack', 'backup', stack, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const archive = newestArchive(join(stack, 'backups/backup'))
    const a = join(tempDir(), 'IOTstack')
    const b = join(tempDir(), 'IOTstack')
    const first = await StackRestore.open(archive, a)
    await first.plan()
    const checked = await first.run()
    const second = await StackRestore.open(archive, b, {checkFirst: false})
    await second.plan()
    const onePass = await second.run()
    expect(onePass.entries).toBe(checked.entries)
    expect(onePass.entries).toBeGreaterThan(10)
    expect(onePass.restored).toEqual(checked.restored)
    expect(without(treeOf(b), 'post_restore.ran')).toEqual(before)
    expect(treeOf(b)).toEqual(treeOf(a))
    expect(readFileSync(join(b, '.env'), 'utf8')).toBe(readFileSync(join(stack, '.env'), 'utf8'))
    // the restore log counts the entries the one pass checked, not the plan's (which read none)
    const logOf = (dir: string) =>
      readFileSync(join(dir, 'backups/logs', readdirSync(join(dir, 'backups/logs'))[0]!), 'utf8')
    expect(logOf(b)).toContain(`\nEntries checked: ${onePass.entries}\n`)
    expect(logOf(a)).toContain(`\nEntries checked: ${checked.entries}\n`)
  })
})
