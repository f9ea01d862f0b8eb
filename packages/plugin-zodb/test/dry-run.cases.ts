// --dry-run cases of `bk zodb` (run by apps/bk/test/dry-run.test.ts): a small site with blobs and backups in
// every mode; the whole var folder (filestorage, blobs, every location) must be unchanged afterwards.
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {DryRunCase, DryRunSetup} from '@bkcli/testkit'
import {tempDir} from '@bkcli/testkit'
import {resolveSite} from '../src/settings.js'
import {backupSite} from '../src/site.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'
import {followCases} from './follow.dry-run.cases.js'

type Mode = 'backup' | 'snapshot' | 'zip'

async function site(modes: Mode[], fulls = 1): Promise<DryRunSetup> {
  const root = tempDir('bk-zodb-dry-')
  const datafs = join(root, 'var', 'filestorage', 'Data.fs')
  const blobs = join(root, 'var', 'blobstorage')
  mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
  mkdirSync(join(blobs, '0x00'), {recursive: true})
  writeFileSync(join(blobs, '.layout'), 'bushy')
  writeFileSync(join(blobs, '0x00', 'a.blob'), 'A')
  const db = SyntheticStorage.open(datafs)
  db.commit({oids: [0, 1], size: 100})
  writeFileSync(`${datafs}.lock`, ' 1\n') // as Zope leaves it: present, not held
  const resolved = await resolveSite({datafs: [datafs]}, root)
  let clock = Date.UTC(2030, 0, 1)
  for (let i = 0; i < fulls; i++) {
    for (const mode of modes) await backupSite(resolved, {mode, full: true, now: () => new Date(clock)})
    clock += 60_000
    db.commit({oids: [1, 2 + i], size: 50})
  }
  writeFileSync(join(blobs, '0x00', 'b.blob'), 'B')
  return {argv: ['--datafs', datafs], state: {paths: [join(root, 'var')]}}
}

function withCommand(command: string, setup: () => Promise<DryRunSetup>, extra: string[] = []): DryRunCase {
  return {
    command,
    async setup() {
      const s = await setup()
      return {...s, argv: ['zodb', command.split(':')[1]!, ...s.argv, ...extra]}
    },
  }
}

export const cases: DryRunCase[] = [
  withCommand('zodb:backup', () => site(['backup'], 3)),
  withCommand('zodb:fullbackup', () => site(['backup'])),
  withCommand('zodb:snapshotbackup', () => site(['snapshot'])),
  withCommand('zodb:zipbackup', () => site(['zip'])),
  withCommand('zodb:restore', () => site(['backup'])),
  withCommand('zodb:restore', () => site(['backup'], 2), ['--as-of', '2030-01-01T00:00:30Z']),
  withCommand('zodb:snapshotrestore', () => site(['snapshot'])),
  withCommand('zodb:ziprestore', () => site(['zip'])),
  withCommand('zodb:prune', () => site(['backup'], 3), ['--keep', '1']),
  {
    command: 'zodb:pull',
    async setup() {
      const s = await site(['backup'])
      const remote = tempDir('bk-zodb-dry-remote-')
      const config = join(tempDir('bk-zodb-dry-rclone-'), 'rclone.conf')
      writeFileSync(config, '[offsite]\ntype = local\n')
      return {
        argv: ['zodb', 'pull', `offsite:${remote}`, ...s.argv],
        state: {paths: [...(s.state.paths ?? []), remote]},
        env: {RCLONE_CONFIG: config},
      }
    },
  },
  ...followCases,
]
