import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {safeRestore} from '../src/safety/index.js'
import {deadPid, startChild, treeDigest} from './safety-util.js'

/** A live-looking directory with a few files, one binary and one 0600. */
function makeOld(dir: string): string {
  const target = join(dir, 'tracker')
  mkdirSync(join(target, 'db'), {recursive: true})
  writeFileSync(join(target, 'config.ini'), '[main]\ndatabase = db\n')
  writeFileSync(join(target, 'db', 'data.bin'), Buffer.from([0, 1, 2, 255, 254, 10, 13]))
  writeFileSync(join(target, 'secret'), 'pw', {mode: 0o600})
  return target
}

const stageNew = async (stage: string) => {
  mkdirSync(join(stage, 'db'))
  writeFileSync(join(stage, 'config.ini'), '[main]\ndatabase = restored\n')
}

describe('safeRestore', () => {
  it('swaps the staged copy in and removes the previous one', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const result = await safeRestore({target, stage: stageNew})
    expect(result).toMatchObject({target, replaced: true, previous: undefined, leftovers: []})
    expect(readFileSync(join(target, 'config.ini'), 'utf8')).toBe('[main]\ndatabase = restored\n')
    expect(existsSync(join(target, 'secret'))).toBe(false)
    expect(readdirSync(dir)).toEqual(['tracker'])
  })

  it('keeps the previous copy as <target>.old (byte-identical) with keepPrevious', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const before = treeDigest(target)
    const result = await safeRestore({target, stage: stageNew, keepPrevious: true})
    expect(result.previous).toBe(join(dir, 'tracker.old'))
    expect(treeDigest(join(dir, 'tracker.old'))).toBe(before)
    expect(readdirSync(dir).sort()).toEqual(['tracker', 'tracker.old'])
    // A second restore replaces the older .old
    await safeRestore({
      target,
      stage: async (s) => writeFileSync(join(s, 'x'), 'x'),
      previousName: 'tracker.pre-restore',
    })
    expect(readdirSync(dir).sort()).toEqual(['tracker', 'tracker.old', 'tracker.pre-restore'])
    expect(readFileSync(join(dir, 'tracker.pre-restore', 'config.ini'), 'utf8')).toContain('restored')
  })

  it('leaves the target byte-identical when verification fails', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const before = treeDigest(target)
    await expect(
      safeRestore({
        target,
        stage: stageNew,
        verify: async (stage) => {
          expect(readFileSync(join(stage, 'config.ini'), 'utf8')).toContain('restored')
          throw new Error('integrity check failed')
        },
      }),
    ).rejects.toThrow('integrity check failed')
    expect(treeDigest(target)).toBe(before)
    expect(readdirSync(dir)).toEqual(['tracker'])
  })

  it('rolls back to the byte-identical old copy when a step after the swap throws', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const before = treeDigest(target)
    await expect(
      safeRestore({
        target,
        stage: stageNew,
        afterSwap: async (t) => {
          expect(readFileSync(join(t, 'config.ini'), 'utf8')).toContain('restored')
          throw new Error('cannot chown')
        },
      }),
    ).rejects.toThrow('cannot chown')
    expect(treeDigest(target)).toBe(before)
    expect(readdirSync(dir)).toEqual(['tracker'])
  })

  it('works when the target does not exist yet, and removes it again on failure', async () => {
    const dir = tempDir()
    const target = join(dir, 'new-home')
    const result = await safeRestore({target, stage: stageNew})
    expect(result.replaced).toBe(false)
    expect(readFileSync(join(target, 'config.ini'), 'utf8')).toContain('restored')

    const other = join(dir, 'other')
    await expect(
      safeRestore({
        target: other,
        stage: stageNew,
        afterSwap: async () => {
          throw new Error('no')
        },
      }),
    ).rejects.toThrow('no')
    expect(readdirSync(dir)).toEqual(['new-home'])
  })

  it('restores a single file the same way', async () => {
    const dir = tempDir()
    const target = join(dir, 'Data.fs')
    writeFileSync(target, 'old data')
    await expect(
      safeRestore({
        target,
        type: 'file',
        stage: async (path) => writeFileSync(path, 'new data'),
        verify: async () => {
          throw new Error('bad magic')
        },
      }),
    ).rejects.toThrow('bad magic')
    expect(readFileSync(target, 'utf8')).toBe('old data')
    await safeRestore({
      target,
      type: 'file',
      stage: async (path) => writeFileSync(path, 'new data'),
      keepPrevious: true,
    })
    expect(readFileSync(target, 'utf8')).toBe('new data')
    expect(readFileSync(`${target}.old`, 'utf8')).toBe('old data')
  })

  it('a stage that produces nothing is an error and the target is untouched', async () => {
    const dir = tempDir()
    const target = join(dir, 'Data.fs')
    writeFileSync(target, 'old')
    await expect(safeRestore({target, type: 'file', stage: async () => {}})).rejects.toThrow(/produced nothing/)
    expect(readFileSync(target, 'utf8')).toBe('old')
  })

  it('removes the stage of an interrupted run, and puts back a previous copy left without target', async () => {
    const dir = tempDir()
    const pid = await deadPid()
    // An earlier run died after moving the target aside and before moving the stage in.
    mkdirSync(join(dir, `.tracker.bk-restore-${pid}`))
    writeFileSync(join(dir, `.tracker.bk-restore-${pid}`, 'half'), 'h')
    const old = makeOld(join(dir, 'x'))
    const before = treeDigest(old)
    mkdirSync(join(dir, 'x'), {recursive: true})
    renameSync(old, join(dir, `tracker.bk-prev-${pid}`))
    const result = await safeRestore({
      target: join(dir, 'tracker'),
      stage: stageNew,
      keepPrevious: true,
    })
    expect(result.replaced).toBe(true)
    expect(treeDigest(join(dir, 'tracker.old'))).toBe(before)
    expect(readdirSync(dir).sort()).toEqual(['tracker', 'tracker.old', 'x'])
  })

  it('SIGTERM after the swap puts the old copy back (byte-identical)', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const before = treeDigest(target)
    const child = startChild(['restore-after-swap', target])
    await child.waitFor('swapped')
    expect(readFileSync(join(target, 'new.txt'), 'utf8')).toBe('new')
    child.proc.kill('SIGTERM')
    expect((await child.exited).code).toBe(143)
    expect(treeDigest(target)).toBe(before)
    expect(readdirSync(dir)).toEqual(['tracker'])
  })

  it('SIGHUP (the terminal or ssh session went away) after the swap puts the old copy back too', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const before = treeDigest(target)
    const child = startChild(['restore-after-swap', target])
    await child.waitFor('swapped')
    child.proc.kill('SIGHUP')
    expect((await child.exited).code).toBe(129)
    expect(treeDigest(target)).toBe(before)
    expect(readdirSync(dir)).toEqual(['tracker'])
  })

  it('SIGINT while the previous copy is being removed keeps the new copy (the swap is committed)', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    // big enough that removing it takes many event-loop turns, so the signal lands during the removal
    for (let i = 0; i < 3000; i++) writeFileSync(join(target, `f${i}`), 'x')
    const child = startChild(['restore-signal-in-cleanup', target])
    const {code} = await child.exited
    expect(code === 130 || code === 0).toBe(true)
    expect(readFileSync(join(target, 'new.txt'), 'utf8')).toBe('new')
    expect(readdirSync(target)).toEqual(['new.txt'])
    expect(readdirSync(dir)).toEqual(['tracker'])
  })

  it('SIGINT while staging leaves the target untouched and no stage', async () => {
    const dir = tempDir()
    const target = makeOld(dir)
    const before = treeDigest(target)
    const child = startChild(['restore-stage', target])
    await child.waitFor('staging')
    child.proc.kill('SIGINT')
    expect((await child.exited).code).toBe(130)
    expect(treeDigest(target)).toBe(before)
    expect(readdirSync(dir)).toEqual(['tracker'])
  })
})
