import {spawn, spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {fixturePath, runBk} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {JOURNAL, recoverInterruptedRestore, swapMembers} from '../src/restore-swap.js'
import {fixtureStack, treeOf} from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))

/** A stack plus a stage holding a different version of each member. */
function prepared() {
  const stack = fixtureStack()
  const stage = join(stack, '.bk-restore-stage-test')
  const prev = join(stack, '.bk-restore-prev-test')
  mkdirSync(join(stage, 'services/new'), {recursive: true})
  mkdirSync(join(stage, 'volumes'), {recursive: true})
  writeFileSync(join(stage, 'volumes/new.db'), 'new')
  writeFileSync(join(stage, 'docker-compose.yml'), 'services: {}\n')
  writeFileSync(join(stage, 'pre_backup.sh'), 'true\n')
  mkdirSync(prev)
  const plan = {
    dir: stack,
    stage,
    prev,
    bring: ['services', 'volumes', 'docker-compose.yml', 'pre_backup.sh'],
    remove: ['compose-override.yml'],
  }
  return {stack, plan, before: treeOf(stack, ['.bk-restore-stage-test', '.bk-restore-prev-test'])}
}

describe('restore swap: old tree or new tree, never a mix', () => {
  for (const killAfter of [1, 2, 3, 4]) {
    it(`a restore killed (SIGKILL) after ${killAfter} swapped member(s) is rolled back by the next run`, async () => {
      const {stack, plan, before} = prepared()
      const child = spawnSync(process.execPath, [join(here, 'swap-child.mjs'), JSON.stringify(plan), String(killAfter)])
      expect(child.signal).toBe('SIGKILL')
      expect(readdirSync(stack)).toContain(JOURNAL) // it really died mid-swap
      expect(await recoverInterruptedRestore(stack)).toBe('rolled-back')
      expect(treeOf(stack, [])).toEqual(before)
    })
  }

  it('a failure during the swap rolls back in-process', async () => {
    const {stack, plan, before} = prepared()
    let n = 0
    await expect(
      swapMembers(plan, {
        afterEach: async () => {
          if (++n === 3) throw new Error('disk fell off')
        },
      }),
    ).rejects.toThrow('disk fell off')
    expect(treeOf(stack, ['.bk-restore-stage-test', '.bk-restore-prev-test'])).toEqual(before)
  })

  it('a bk restore killed once it started staging leaves the old tree; the next restore cleans up and succeeds', async () => {
    // A stack with ~48 MiB of incompressible volume data, so extraction takes a moment.
    const source = fixtureStack()
    spawnSync('sh', ['-c', `head -c 50000000 /dev/urandom > "${join(source, 'volumes/influxdb/data/big.tsm')}"`])
    expect((await runBk(['iotstack', 'backup', source, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const dated = join(source, 'backups/backup')
    const archive = join(dated, readdirSync(dated).find((n) => n.endsWith('.tar.gz'))!)

    const stack = fixtureStack()
    const before = treeOf(stack)
    const root = join(here, '../../..')
    const child = spawn(
      process.execPath,
      [join(root, 'apps/bk/bin/run.js'), 'iotstack', 'restore', archive, stack, '--yes'],
      {
        env: {...process.env, BK_DATA_DIR: join(root, '.bk-dev')},
        stdio: 'ignore',
      },
    )
    // Kill it as soon as it is extracting (the stage folder has appeared).
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (readdirSync(stack).some((n) => n.startsWith('.bk-restore-stage-'))) {
          clearInterval(timer)
          child.kill('SIGKILL')
          resolve()
        }
      }, 5)
      child.on('exit', () => {
        clearInterval(timer)
        reject(new Error('restore finished before it could be killed'))
      })
    })
    await new Promise((resolve) => child.on('exit', resolve))
    // Its log may exist in backups/ by then; the stack's own files are the old ones.
    const stages = readdirSync(stack).filter((n) => n.startsWith('.bk-restore-'))
    expect(treeOf(stack, ['backups', ...stages])).toEqual(before)
    const again = await runBk(['iotstack', 'restore', archive, stack, '--yes'])
    expect(again.exitCode).toBe(0)
    expect(readdirSync(stack).filter((n) => n.startsWith('.bk-'))).toEqual([])
    expect(treeOf(stack)['volumes/influxdb/data/big.tsm']).toMatchObject({size: 50_000_000})
  })

  it('fixture archives are the ones restored above (sanity)', () => {
    expect(readdirSync(dirname(fixturePath('iotstack', 'archives', 'x')))).toHaveLength(2)
  })
})
