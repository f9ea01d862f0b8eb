/**
 * `bk roundup backup --copy-to` killed (SIGKILL) right after a backup's off-site copy (core's `offsite-copied`,
 * before retention runs on the target and in the location): the target holds each backup whole or not at all —
 * the killed run's copy is listed and pulls back byte for byte, verified — nothing half-made is left in the
 * location or the temp folder, and the next run copies its own backup and applies the
 * retention rules to what the killed run left, on the target as in the location.
 */
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fixtureTestsRun, type OffsiteTargets, offsiteTargets, runBk, tempDir} from '@bkcli/testkit'
import {beforeAll, describe, expect, it} from 'vitest'
import {fixtureTree} from './helpers.js'

let targets: OffsiteTargets

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

describe.skipIf(!fixtureTestsRun())('roundup backup --copy-to killed after the off-site copy', () => {
  beforeAll(() => {
    targets = offsiteTargets()
  })

  for (const kind of ['restic', 'rclone crypt'] as const) {
    it(`${kind}: the copy is whole, the next run copies its own and prunes both sides`, async () => {
      const home = fixtureTree('sqlite-home')
      const target = kind === 'restic' ? targets.restic : targets.crypt(`crash-${Date.now()}`)
      const location = join(tempDir('bk-ru-offc-'), 'backups')
      const tmp = tempDir('bk-ru-offc-tmp-')
      const env = {...targets.env, TMPDIR: tmp}
      const backup = (extra: string[] = [], more: Record<string, string> = {}) =>
        runBk(['roundup', 'backup', home, '--location', location, '--copy-to', target, ...extra, '--json'], {
          env: {...env, ...more},
        })
      const remote = async () => {
        const r = await runBk(['roundup', 'pull', target, '--list', '--json'], {env})
        expect(r.exitCode, r.stderr).toBe(0)
        return r
          .json<{artifacts: {name: string}[]}>()
          .artifacts.map((a) => a.name)
          .sort()
      }
      const local = () =>
        readdirSync(location)
          .filter((n) => n.endsWith('.tar.gz'))
          .sort()

      const first = await backup()
      expect(first.exitCode, first.stderr).toBe(0)
      const a = first.json<{archive: string}>().archive.split('/').pop() as string
      // a restic repository is shared by the tests of this file: only this test's names count
      const mine = (names: string[]) => names.filter((n) => local().includes(n) || n === a)

      const crashed = await backup(['--keep', '1'], {BK_CRASH_AT: 'offsite-copied'})
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
      const made = local()
      expect(made).toHaveLength(2)
      const b = made.find((n) => n !== a) as string
      // the killed run's backup is on the target whole (pulled back, verified by the pull, byte for byte) and
      // in the location; retention never ran (the first backup is still on both sides)
      expect(mine(await remote())).toEqual([a, b].sort())
      const elsewhere = join(tempDir('bk-ru-offc-'), 'backups')
      const pulled = await runBk(['roundup', 'pull', target, elsewhere, '--name', b, '--json'], {env})
      expect(pulled.exitCode, pulled.stderr).toBe(0)
      expect(pulled.json<{verified: {ok: boolean}[]}>().verified.map((v) => v.ok)).toEqual([true])
      expect(sha256(join(elsewhere, b))).toBe(sha256(join(location, b)))
      // nothing half-made anywhere
      expect(readdirSync(location).filter((n) => n.startsWith('.'))).toEqual([])
      expect(readdirSync(tmp)).toEqual([])

      // the next run: its own backup copied, and --keep 1 applied on both sides to what the killed run left
      const next = await backup(['--keep', '1'])
      expect(next.exitCode, next.stderr).toBe(0)
      const doc = next.json<{archive: string; offsite: {artifacts: string[]; removed: string[]}[]}>()
      const c = doc.archive.split('/').pop() as string
      expect(local()).toEqual([c])
      expect(doc.offsite[0]?.artifacts).toEqual([c])
      expect([...(doc.offsite[0]?.removed ?? [])].sort()).toEqual([a, b].sort())
      expect(mine(await remote())).toEqual([c])
      expect(readdirSync(tmp)).toEqual([])
    }, 120_000)
  }
})
