// Retention-flag cases of `bk trac` (run by apps/bk/test/retention-flags.test.ts): dated archives of one env.
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {type RetentionCase, tempDir} from '@bkcli/testkit'
import {makeExampleEnvironment} from '../src/example.js'
import {tracCatalog} from '../src/store.js'

function dated(location: string, dates: Date[]): () => Date[] {
  const naming = tracCatalog(location, 'env').naming
  mkdirSync(location, {recursive: true})
  for (const d of dates) writeFileSync(join(location, naming.format(d)), 'an older backup')
  return () => dates.filter((d) => existsSync(join(location, naming.format(d))))
}

export const cases: RetentionCase[] = [
  {
    command: 'trac:prune',
    async setup(dates) {
      const location = tempDir('bk-trac-keep-')
      return {argv: ['trac', 'prune', '--location', location], left: dated(location, dates)}
    },
  },
  {
    command: 'trac:backup',
    makesBackup: true,
    async setup(dates) {
      const env = join(tempDir('bk-trac-keep-'), 'env')
      await makeExampleEnvironment(env, {tickets: 2, wikiPages: 1, attachments: 0})
      const location = join(env, '..', 'backups')
      return {argv: ['trac', 'backup', env, '--location', location], left: dated(location, dates)}
    },
  },
]
