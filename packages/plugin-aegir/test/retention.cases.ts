// Retention-flag cases of `bk aegir` (run by apps/bk/test/retention-flags.test.ts): dated provision tarballs of
// example.com in the site's backup location.
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {type RetentionCase, tempDir} from '@bkcli/testkit'
import {provisionNaming} from '../src/naming.js'
import {makeTestSite} from './helpers.js'

function dated(location: string, dates: Date[]): () => Date[] {
  const naming = provisionNaming('example.com')
  mkdirSync(location, {recursive: true, mode: 0o700})
  for (const d of dates) writeFileSync(join(location, naming.format(d)), 'an older backup')
  return () => dates.filter((d) => existsSync(join(location, naming.format(d))))
}

export const cases: RetentionCase[] = [
  {
    command: 'aegir:prune',
    async setup(dates) {
      const location = tempDir('bk-aegir-keep-')
      return {argv: ['aegir', 'prune', 'example.com', '--location', location], left: dated(location, dates)}
    },
  },
  {
    command: 'aegir:backup',
    makesBackup: true,
    async setup(dates) {
      const t = makeTestSite()
      return {
        argv: ['aegir', 'backup', t.site, '--location', t.location],
        left: dated(t.location, dates),
        cleanup: async () => t.drop(),
      }
    },
  },
]
