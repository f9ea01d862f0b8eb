import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runBk} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {fakeDocker, fixtureStack} from './helpers.js'

// A volume file named in Latin-1 (`caf\xe8`, `caf\xe9`): the sidecar manifest named both `caf\uFFFD`, one entry
// for two files. bk now refuses the backup, naming the path with its bytes escaped; no archive is left.
describe('bk iotstack backup, a file name that is not UTF-8', () => {
  it('is refused in one line naming it, exit non-zero, no archive or sidecar left', async () => {
    const stack = fixtureStack()
    const docker = fakeDocker()
    const volumes = Buffer.from(`${join(stack, 'volumes')}/`)
    writeFileSync(Buffer.concat([volumes, Buffer.from('caf'), Buffer.from([0xe8])]), 'A')
    writeFileSync(Buffer.concat([volumes, Buffer.from('caf'), Buffer.from([0xe9])]), 'B')
    const result = await runBk(['iotstack', 'backup', stack], {env: docker.env})
    expect(result.exitCode).not.toBe(0)
    const errors = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('bk: ') && !line.startsWith('bk: warning'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/volumes\/caf\\xe[89]: the file name is not valid UTF-8.*rename it.*convmv/)
    for (const dir of ['backups/backup', 'backups/rolling']) {
      const left = existsSync(join(stack, dir)) ? readdirSync(join(stack, dir)) : []
      expect(left.filter((name) => !name.endsWith('.log'))).toEqual([])
    }
  })
})
