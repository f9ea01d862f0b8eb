import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {tempDir} from '@bkcli/testkit'
import {describe, expect, it} from 'vitest'
import {
  type Artifact,
  checkResult,
  decidePrune,
  formatPlan,
  lockTargets,
  newestFirst,
  type Operation,
  type RunSettings,
  runOperation,
  step,
} from '../src/index.js'

function settings(over: Partial<RunSettings> = {}): RunSettings {
  return {
    dryRun: false,
    operation: 'bk test run',
    confirm: async () => {},
    hooks: {},
    context: {progress: () => ({update() {}, setTotal() {}, done() {}}), info() {}, note() {}, warn() {}},
    ...over,
  }
}

describe('runOperation', () => {
  it('under --dry-run returns the plan and never confirms, locks, runs hooks or acts', async () => {
    process.env.BK_LOCK_DIR = tempDir('bk-locks-')
    const dir = tempDir()
    const marker = join(dir, 'hook')
    let acted = false
    let asked = false
    const op: Operation<{done: boolean}> = {
      kind: 'backup',
      plan: async () => ({summary: 'back up x', steps: [step('create', join(dir, 'x.tar.gz'), undefined, 10)]}),
      confirm: () => ({question: 'ok?', action: 'x'}),
      locks: [dir],
      hooks: {},
      act: async () => {
        acted = true
        return {done: true}
      },
    }
    const outcome = await runOperation(op, {
      ...settings({dryRun: true, hooks: {pre: `touch ${marker}`, post: `touch ${marker}`}}),
      confirm: async () => {
        asked = true
      },
    })
    expect(outcome.dryRun).toBe(true)
    expect(acted).toBe(false)
    expect(asked).toBe(false)
    expect(existsSync(marker)).toBe(false)
    expect(readdirSync(process.env.BK_LOCK_DIR)).toEqual([])
    expect(formatPlan(outcome.plan)).toEqual(['Plan: back up x', `  create  ${join(dir, 'x.tar.gz')}  (10 B)`])
  })

  it('runs every pre- and post-command in order around the act, under the lock', async () => {
    process.env.BK_LOCK_DIR = tempDir('bk-locks-')
    const dir = tempDir()
    const log = join(dir, 'log')
    const op: Operation<{n: number}> = {
      kind: 'backup',
      plan: async () => ({summary: 's', steps: []}),
      locks: [dir],
      hooks: {},
      act: async () => {
        expect(readdirSync(process.env.BK_LOCK_DIR as string)).toHaveLength(1)
        writeFileSync(log, `${readFileSync(log, 'utf8')}act\n`)
        return {n: 1}
      },
    }
    writeFileSync(log, '')
    const hooks = {
      pre: [`echo pre1 >> ${log}`, `echo pre2 >> ${log}`],
      post: [`echo post1 $BK_STATUS >> ${log}`, `echo post2 >> ${log}`],
    }
    await runOperation(op, settings({hooks}))
    expect(readFileSync(log, 'utf8')).toBe('pre1\npre2\nact\npost1 ok\npost2\n')
    expect(readdirSync(process.env.BK_LOCK_DIR)).toEqual([])
  })

  it('refuses a second run on the same target, naming the command and pid', async () => {
    process.env.BK_LOCK_DIR = tempDir('bk-locks-')
    const dir = tempDir()
    mkdirSync(join(dir, 'env'))
    const release = await lockTargets([join(dir, 'env')], 'bk trac restore')
    const error = await runOperation(
      {
        kind: 'restore',
        plan: async () => ({summary: 's', steps: []}),
        locks: [join(dir, 'env', '..', 'env')],
        act: async () => ({}),
      },
      settings(),
    ).catch((e: Error) => e)
    expect(String(error)).toMatch(new RegExp(`locked by pid ${process.pid} \\(bk trac restore`))
    await release()
  })
})

describe('decidePrune', () => {
  const day = (d: number, group: string, extra: Partial<Artifact> = {}): Artifact => ({
    name: `${group}-${d}`,
    path: `/loc/${group}-${d}`,
    kind: 'backup',
    date: new Date(Date.UTC(2026, 10, d, 2)),
    bytes: 1,
    group,
    ...extra,
  })
  it('applies the rules per group, keeps the newest of each and never removes pinned artifacts', () => {
    const list = [day(1, 'a'), day(2, 'a'), day(3, 'a'), day(1, 'b'), day(2, 'b', {pinned: true})]
    const decision = decidePrune(list, {keep: 1, clock: 'utc'})
    expect(decision.remove.map((a) => a.name).sort()).toEqual(['a-1', 'a-2'])
    expect(decision.keep.map((k) => k.artifact.name).sort()).toEqual(['a-3', 'b-1', 'b-2'])
  })
  it('ranks backups of one second by their collision number, whatever order they were listed in', () => {
    const at = new Date(Date.UTC(2026, 10, 5, 2))
    const named = (name: string): Artifact => ({name, path: `/loc/${name}`, kind: 'backup', date: at, bytes: 1})
    const listed = ['x_2.tar.gz', 'x.tar.gz', 'x_10.tar.gz', 'x_1.tar.gz', 'x_9.tar.gz'].map(named)
    expect(newestFirst(listed).map((a) => a.name)).toEqual([
      'x_10.tar.gz',
      'x_9.tar.gz',
      'x_2.tar.gz',
      'x_1.tar.gz',
      'x.tar.gz',
    ])
    for (const order of [listed, [...listed].reverse()]) {
      const decision = decidePrune(order, {keep: 2, clock: 'utc'}, {now: at})
      expect(decision.keep.map((k) => k.artifact.name)).toEqual(['x_10.tar.gz', 'x_9.tar.gz'])
      expect(decision.remove.map((a) => a.name)).toEqual(['x_2.tar.gz', 'x_1.tar.gz', 'x.tar.gz'])
    }
  })
  it('counts an upcoming backup so a dry run prunes what the real run would', () => {
    const decision = decidePrune([day(1, 'a'), day(2, 'a')], {keep: 2, clock: 'utc'}, {upcoming: day(3, 'a')})
    expect(decision.remove.map((a) => a.name)).toEqual(['a-1'])
  })
})

describe('result schemas', () => {
  it('accept a well-formed list and reject a list without artifacts', async () => {
    const ok = {kind: 'list', app: 'trac', command: 'trac list', dryRun: false, location: '/l', artifacts: []}
    expect(await checkResult(ok)).toEqual([])
    expect((await checkResult({...ok, artifacts: undefined})).join()).toMatch(/artifacts/)
    expect(await checkResult({ok: false, error: {code: 'EBK', message: 'x'}})).toEqual([])
  })
})
