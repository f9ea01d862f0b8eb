// Retention-flag cases of `bk zodb` (run by apps/bk/test/retention-flags.test.ts): one full backup (a chain) per
// date, made by bk's own backup code with its clock set, in the location of each mode.
import {existsSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {type RetentionCase, tempDir} from '@bkcli/testkit'
import {type Mode, resolveSite} from '../src/settings.js'
import {backupSite} from '../src/site.js'
import {SyntheticStorage} from '../src/synthetic-storage.js'

const LOCATION: Record<Mode, string> = {backup: 'backups', snapshot: 'snapshotbackups', zip: 'zipbackups'}

/** repozo's name of a full backup made at `date` (UTC). */
const fullName = (date: Date) => `${date.toISOString().slice(0, 19).replace(/[T:]/g, '-')}.fsz`

async function chains(mode: Mode, dates: Date[]): Promise<{datafs: string; left: () => Date[]}> {
  const root = tempDir('bk-zodb-keep-')
  const datafs = join(root, 'var', 'filestorage', 'Data.fs')
  mkdirSync(join(root, 'var', 'filestorage'), {recursive: true})
  const db = SyntheticStorage.open(datafs)
  const site = await resolveSite({datafs: [datafs]}, root)
  for (const [i, date] of [...dates].sort((a, b) => a.getTime() - b.getTime()).entries()) {
    db.commit({oids: [0, i + 1], size: 100})
    await backupSite(site, {mode, full: true, now: () => date})
  }
  db.commit({oids: [0, dates.length + 1], size: 100})
  const location = join(root, 'var', LOCATION[mode])
  return {datafs, left: () => dates.filter((d) => existsSync(join(location, fullName(d))))}
}

function backupCase(command: string, mode: Mode, extra: string[] = []): RetentionCase {
  return {
    command: `zodb:${command}`,
    makesBackup: true,
    async setup(dates) {
      const {datafs, left} = await chains(mode, dates)
      // --keep 0: only the rule under test decides (bk zodb's --keep defaults to 2, as the recipe's keep)
      return {argv: ['zodb', command, '--datafs', datafs, '--keep', '0', ...extra], left}
    },
  }
}

export const cases: RetentionCase[] = [
  {
    command: 'zodb:prune',
    async setup(dates) {
      const {datafs, left} = await chains('backup', dates)
      return {argv: ['zodb', 'prune', '--datafs', datafs], left}
    },
  },
  backupCase('backup', 'backup', ['--full']),
  backupCase('fullbackup', 'backup'),
  backupCase('snapshotbackup', 'snapshot'),
]
