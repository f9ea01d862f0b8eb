// Retention-flag cases of `bk roundup` (run by apps/bk/test/retention-flags.test.ts): dated archives of the
// fixture tracker in one location.
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {basename, join} from 'node:path'
import {type RetentionCase, tempDir} from '@bkcli/testkit'
import {roundupCatalog} from '../src/store.js'
import {fixtureTree} from './helpers.js'

function dated(location: string, name: string, dates: Date[]): () => Date[] {
  const naming = roundupCatalog(location, name).naming
  mkdirSync(location, {recursive: true})
  for (const d of dates) writeFileSync(join(location, naming.format(d)), 'an older backup')
  return () => dates.filter((d) => existsSync(join(location, naming.format(d))))
}

export const cases: RetentionCase[] = [
  {
    command: 'roundup:prune',
    async setup(dates) {
      const location = tempDir('bk-roundup-keep-')
      return {argv: ['roundup', 'prune', '--location', location], left: dated(location, 'tracker', dates)}
    },
  },
  {
    command: 'roundup:backup',
    makesBackup: true,
    async setup(dates) {
      const home = fixtureTree('sqlite-home')
      const location = join(tempDir('bk-roundup-keep-'), 'backups')
      return {
        argv: ['roundup', 'backup', home, '--location', location],
        left: dated(location, basename(home), dates),
      }
    },
  },
]
