// The --dry-run case of `bk zodb follow`, for apps/bk/test/dry-run.test.ts. Kept apart from dry-run.cases.ts
// (written by the port of the other zodb commands): that file adds `...followCases` to its `cases`.
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'
import {type DryRunCase, tempDir} from '@bkcli/testkit'
import {SyntheticStorage} from '../src/synthetic-storage.js'

export const followCases: DryRunCase[] = [
  {
    command: 'zodb:follow',
    async setup() {
      const work = tempDir('bk-dry-follow-')
      const datafs = join(work, 'Data.fs')
      const db = SyntheticStorage.open(datafs)
      for (let i = 0; i < 5; i++) db.commit({oids: [0, i + 1], size: 100})
      const repo = join(work, 'repo')
      mkdirSync(repo)
      return {argv: ['zodb', 'follow', datafs, '--location', repo], state: {paths: [work]}}
    },
  },
]
