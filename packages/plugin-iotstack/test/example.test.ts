import {join} from 'node:path'
import {runBk, tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {makeExampleStack} from '../src/example.js'
import {treeOf} from './helpers.js'

describe('makeExampleStack', () => {
  it('makes a stack that bk backs up and restores to the identical tree', async () => {
    const dir = join(tempDir(), 'IOTstack')
    const made = await makeExampleStack(dir, {volumeBytes: 3 * 1024 * 1024})
    expect(made.bytes).toBeGreaterThan(3 * 1024 * 1024)
    const before = treeOf(dir)
    expect(before['.env']).toMatchObject({mode: '600'})
    expect(before['volumes/mosquitto/data/flows-link.json']).toMatchObject({type: 'symlink', uid: 1883})
    expect((await runBk(['iotstack', 'backup', dir, '--type', 'dated', '-q'])).exitCode).toBe(0)
    const list = (await runBk(['iotstack', 'list', dir, '--json'])).json<{artifacts: {path: string}[]}>().artifacts
    const target = join(tempDir(), 'restored')
    expect((await runBk(['iotstack', 'restore', list[0]!.path, target, '--yes', '-q'])).exitCode).toBe(0)
    expect(treeOf(target)).toEqual(before)
  })
})
