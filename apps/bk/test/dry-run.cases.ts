import {join} from 'node:path'
import type {DryRunCase, DryRunSetup} from '@bkcli/testkit'
import {jobsSetup} from './jobs-fixture.js'

// Nothing listens on the discard port: a ping would only warn, and a dry run must not even try.
const nowhere = 'http://127.0.0.1:9'

async function jobs(argv: (dir: string) => string[]): Promise<DryRunSetup> {
  const s = await jobsSetup(nowhere)
  return {argv: [...argv(s.dir), '--config', join(s.dir, 'bk.yml')], state: {paths: [s.dir]}, env: s.env}
}

export const cases: DryRunCase[] = [
  {command: 'run', setup: () => jobs(() => ['run'])},
  {command: 'report', setup: () => jobs((dir) => ['report', '--output', join(dir, 'report.html')])},
  {
    command: 'schedule:install',
    setup: () => jobs((dir) => ['schedule', 'install', '--scheduler', 'systemd', '--unit-dir', join(dir, 'units')]),
  },
  {
    command: 'schedule:remove',
    setup: () => jobs((dir) => ['schedule', 'remove', '--scheduler', 'cron', '--cron-file', join(dir, 'cron')]),
  },
]
