import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {makeExampleEnvironment} from '../src/example.js'
import {hotcopy, TracEnvironment} from '../src/index.js'

describe('trac hotcopy: what a killed run left', () => {
  it("sweeps the database scratch of a killed run that had this run's pid (a container's bk always has the same)", async () => {
    const parent = tempDir()
    const envDir = join(parent, 'env')
    await makeExampleEnvironment(envDir)
    // what a run killed while it copied the database left beside its destination, under this process's pid
    const left = join(parent, `.copy.bk-partial-${process.pid}-db-AbC123`)
    mkdirSync(join(left, 'db'), {recursive: true})
    writeFileSync(join(left, 'db', 'trac.db'), 'a copy that was never finished')
    await hotcopy(await TracEnvironment.open(envDir), join(parent, 'copy'))
    expect(readdirSync(parent).sort()).toEqual(['copy', 'env'])
  })
})
