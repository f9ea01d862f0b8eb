// Retention-flag cases of `bk iotstack` (run by apps/bk/test/retention-flags.test.ts): dated archives in
// <stack>/backups/backup, as IOTstack's backup.sh names them (local time, to the minute).
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {type RetentionCase, tempDir} from '@bkcli/testkit'
import {makeExampleStack} from '../src/example.js'
import {DATED_NAMING} from '../src/naming.js'
import {fakeDocker} from './fake-docker.js'

async function stack(dates: Date[]): Promise<{dir: string; left: () => Date[]}> {
  const dir = join(tempDir('bk-iot-keep-'), 'IOTstack')
  await makeExampleStack(dir, {volumeBytes: 4 * 1024})
  const dated = join(dir, 'backups', 'backup')
  mkdirSync(dated, {recursive: true})
  for (const d of dates) writeFileSync(join(dated, DATED_NAMING.format(d)), 'an older backup')
  return {dir, left: () => dates.filter((d) => existsSync(join(dated, DATED_NAMING.format(d))))}
}

export const cases: RetentionCase[] = [
  {
    command: 'iotstack:prune',
    async setup(dates) {
      const {dir, left} = await stack(dates)
      return {argv: ['iotstack', 'prune', dir], left}
    },
  },
  {
    command: 'iotstack:backup',
    makesBackup: true,
    async setup(dates) {
      const {dir, left} = await stack(dates)
      const docker = fakeDocker()
      docker.setUp(true)
      return {argv: ['iotstack', 'backup', dir], env: docker.env, left}
    },
  },
]
